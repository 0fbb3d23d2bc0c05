define internal void @"golden.inner"(i64 %".1", i64 %".2", i64 %".3", ptr noalias %".4", ptr noalias %".5", i64 %".6", i64 %".7", ptr %".8") alwaysinline
{
entry:
  %".10" = icmp slt i64 %".1", %".2"
  br i1 %".10", label %"i0.body", label %"i0.done"
i0.body:
  %"i0" = phi  i64 [%".1", %"entry"], [%".51", %"i0.body"]
  %".12" = getelementptr double, ptr %".4", i64 %"i0"
  %".13" = getelementptr double, ptr %".5", i64 %"i0"
  %".14" = load double, ptr %".12"
  %".15" = bitcast double %".14" to i64
  %".16" = and i64 %".15", 9223372036854775807
  %".17" = lshr i64 %".16", 52
  %".18" = sub i64 %".17", 1023
  %".19" = and i64 %".15", 4503599627370495
  %".20" = or i64 %".19", 4607182418800017408
  %".21" = bitcast i64 %".20" to double
  %".22" = fmul double %".21", %".21"
  %".23" = fneg double %".22"
  %".24" = call double @"llvm.fma.f64"(double %".21", double %".21", double %".23")
  %".25" = fmul double %".22", %".21"
  %".26" = fneg double %".25"
  %".27" = call double @"llvm.fma.f64"(double %".22", double %".21", double %".26")
  %".28" = call double @"llvm.fma.f64"(double %".24", double %".21", double %".27")
  %".29" = fadd double %".25", %".28"
  %".30" = mul i64 %".18", 3
  %".31" = icmp slt i64 %".30", -1080
  %".32" = select  i1 %".31", i64 -1080, i64 %".30"
  %".33" = icmp sgt i64 %".32", 1024
  %".34" = select  i1 %".33", i64 1024, i64 %".32"
  %".35" = sub i64 %".34", -1080
  %".36" = lshr i64 %".35", 1
  %".37" = add i64 %".36", -540
  %".38" = add i64 %".37", 1023
  %".39" = shl i64 %".38", 52
  %".40" = bitcast i64 %".39" to double
  %".41" = fmul double %".29", %".40"
  %".42" = sub i64 %".34", %".37"
  %".43" = add i64 %".42", 1023
  %".44" = shl i64 %".43", 52
  %".45" = bitcast i64 %".44" to double
  %".46" = fmul double %".41", %".45"
  %".47" = call double @"llvm.copysign.f64"(double %".46", double %".14")
  %".48" = fcmp uno double %".14", %".14"
  %".49" = select  i1 %".48", double %".14", double %".47"
  store double %".49", ptr %".13"
  %".51" = add i64 %"i0", 1
  %".52" = icmp slt i64 %".51", %".2"
  br i1 %".52", label %"i0.body", label %"i0.done"
i0.done:
  ret void
}

declare double @"llvm.fma.f64"(double %".1", double %".2", double %".3")

declare double @"llvm.copysign.f64"(double %".1", double %".2")

define void @"golden"(ptr noalias %".1", i64 %".2", i64 %".3")
{
entry:
  %".5" = getelementptr i64, ptr %".1", i64 0
  %".6" = load i64, ptr %".5"
  %".7" = getelementptr i64, ptr %".1", i64 1
  %".8" = load ptr, ptr %".7"
  %".9" = getelementptr i64, ptr %".1", i64 2
  %".10" = load i64, ptr %".9"
  %".11" = getelementptr i64, ptr %".1", i64 3
  %".12" = load ptr, ptr %".11"
  %".13" = getelementptr i64, ptr %".1", i64 4
  %".14" = load i64, ptr %".13"
  %".15" = getelementptr i64, ptr %".1", i64 5
  %".16" = load ptr, ptr %".15"
  call void @"golden.inner"(i64 %".2", i64 %".3", i64 %".6", ptr %".8", ptr %".12", i64 %".10", i64 %".14", ptr %".16")
  ret void
}
