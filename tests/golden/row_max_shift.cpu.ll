define internal void @"golden.inner"(i64 %".1", i64 %".2", i64 %".3", i64 %".4", ptr noalias %".5", ptr noalias %".6", i64 %".7", i64 %".8", i64 %".9", i64 %".10", ptr %".11") alwaysinline
{
entry:
  %".19" = alloca double
  %".13" = icmp slt i64 %".1", %".2"
  br i1 %".13", label %"i0.body", label %"i0.done"
i0.body:
  %"i0" = phi  i64 [%".1", %"entry"], [%".43", %"r0.done.1"]
  %".15" = mul i64 %"i0", %".7"
  %".16" = getelementptr i8, ptr %".5", i64 %".15"
  %".17" = mul i64 %"i0", %".9"
  %".18" = getelementptr i8, ptr %".6", i64 %".17"
  store double 0xfff0000000000000, double* %".19"
  %".21" = icmp slt i64 0, %".4"
  br i1 %".21", label %"r0.body", label %"r0.done"
i0.done:
  ret void
r0.body:
  %"r0" = phi  i64 [0, %"i0.body"], [%".29", %"r0.body"]
  %".23" = getelementptr double, ptr %".16", i64 %"r0"
  %".24" = getelementptr double, ptr %".18", i64 %"r0"
  %".25" = load double, ptr %".23"
  %".26" = load double, double* %".19"
  %".27" = call double @"llvm.maximum.f64"(double %".26", double %".25")
  store double %".27", double* %".19"
  %".29" = add i64 %"r0", 1
  %".30" = icmp slt i64 %".29", %".4"
  br i1 %".30", label %"r0.body", label %"r0.done"
r0.done:
  %".32" = load double, double* %".19"
  %".33" = icmp slt i64 0, %".4"
  br i1 %".33", label %"r0.body.1", label %"r0.done.1"
r0.body.1:
  %"r0.1" = phi  i64 [0, %"r0.done"], [%".40", %"r0.body.1"]
  %".35" = getelementptr double, ptr %".16", i64 %"r0.1"
  %".36" = getelementptr double, ptr %".18", i64 %"r0.1"
  %".37" = load double, ptr %".35"
  %".38" = fsub double %".37", %".32"
  store double %".38", ptr %".36"
  %".40" = add i64 %"r0.1", 1
  %".41" = icmp slt i64 %".40", %".4"
  br i1 %".41", label %"r0.body.1", label %"r0.done.1"
r0.done.1:
  %".43" = add i64 %"i0", 1
  %".44" = icmp slt i64 %".43", %".2"
  br i1 %".44", label %"i0.body", label %"i0.done"
}

declare double @"llvm.maximum.f64"(double %".1", double %".2")

define void @"golden"(ptr noalias %".1", i64 %".2", i64 %".3")
{
entry:
  %".5" = getelementptr i64, ptr %".1", i64 0
  %".6" = load i64, ptr %".5"
  %".7" = getelementptr i64, ptr %".1", i64 1
  %".8" = load i64, ptr %".7"
  %".9" = getelementptr i64, ptr %".1", i64 2
  %".10" = load ptr, ptr %".9"
  %".11" = getelementptr i64, ptr %".1", i64 3
  %".12" = load i64, ptr %".11"
  %".13" = getelementptr i64, ptr %".1", i64 4
  %".14" = load i64, ptr %".13"
  %".15" = getelementptr i64, ptr %".1", i64 5
  %".16" = load ptr, ptr %".15"
  %".17" = getelementptr i64, ptr %".1", i64 6
  %".18" = load i64, ptr %".17"
  %".19" = getelementptr i64, ptr %".1", i64 7
  %".20" = load i64, ptr %".19"
  %".21" = getelementptr i64, ptr %".1", i64 8
  %".22" = load ptr, ptr %".21"
  call void @"golden.inner"(i64 %".2", i64 %".3", i64 %".6", i64 %".8", ptr %".10", ptr %".16", i64 %".12", i64 %".14", i64 %".18", i64 %".20", ptr %".22")
  ret void
}
