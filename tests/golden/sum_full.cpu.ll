define internal void @"golden.inner"(i64 %".1", i64 %".2", i64 %".3", i64 %".4", ptr noalias %".5", ptr noalias %".6", i64 %".7", i64 %".8", i64 %".9", i64 %".10", ptr %".11") alwaysinline
{
entry:
  %".23" = alloca double
  %".21" = alloca double
  %".19" = alloca double
  %".13" = icmp slt i64 %".1", %".2"
  br i1 %".13", label %"i0.body", label %"i0.done"
i0.body:
  %"i0" = phi  i64 [%".1", %"entry"], [%".58", %"blocks.done"]
  %".15" = mul i64 %"i0", %".7"
  %".16" = getelementptr i8, ptr %".5", i64 %".15"
  %".17" = mul i64 %"i0", %".9"
  %".18" = getelementptr i8, ptr %".6", i64 %".17"
  store double              0x0, double* %".19"
  store double              0x0, double* %".21"
  store double              0x0, double* %".23"
  %".25" = icmp slt i64 0, %".4"
  br i1 %".25", label %"blocks.body", label %"blocks.done"
i0.done:
  ret void
blocks.body:
  %"blocks" = phi  i64 [0, %"i0.body"], [%".53", %"blk.done"]
  %".27" = add i64 %"blocks", 2048
  %".28" = icmp slt i64 %".27", %".4"
  %".29" = select  i1 %".28", i64 %".27", i64 %".4"
  %".30" = icmp slt i64 %"blocks", %".29"
  br i1 %".30", label %"blk.body", label %"blk.done"
blocks.done:
  %".56" = load double, double* %".21"
  store double %".56", ptr %".18"
  %".58" = add i64 %"i0", 1
  %".59" = icmp slt i64 %".58", %".2"
  br i1 %".59", label %"i0.body", label %"i0.done"
blk.body:
  %"blk" = phi  i64 [%"blocks", %"blocks.body"], [%".37", %"blk.body"]
  %".32" = getelementptr double, ptr %".16", i64 %"blk"
  %".33" = load double, ptr %".32"
  %".34" = load double, double* %".19"
  %".35" = fadd reassoc double %".34", %".33"
  store double %".35", double* %".19"
  %".37" = add i64 %"blk", 1
  %".38" = icmp slt i64 %".37", %".29"
  br i1 %".38", label %"blk.body", label %"blk.done"
blk.done:
  %".40" = load double, double* %".19"
  %".41" = load double, double* %".23"
  %".42" = fsub double %".40", %".41"
  %".43" = load double, double* %".21"
  %".44" = fadd double %".43", %".42"
  %".45" = fsub double %".44", %".43"
  %".46" = fsub double %".45", %".42"
  %".47" = call double @"llvm.fabs.f64"(double %".44")
  %".48" = fcmp olt double %".47", 0x7ff0000000000000
  %".49" = select  i1 %".48", double %".46", double              0x0
  store double %".49", double* %".23"
  store double %".44", double* %".21"
  store double              0x0, double* %".19"
  %".53" = add i64 %"blocks", 2048
  %".54" = icmp slt i64 %".53", %".4"
  br i1 %".54", label %"blocks.body", label %"blocks.done"
}

declare double @"llvm.fabs.f64"(double %".1")

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
