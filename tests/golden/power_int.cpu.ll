define internal void @"golden.inner"(i64 %".1", i64 %".2", i64 %".3", ptr noalias %".4", ptr noalias %".5", ptr noalias %".6", i64 %".7", i64 %".8", i64 %".9", ptr %".10") alwaysinline
{
entry:
  %".12" = icmp slt i64 %".1", %".2"
  br i1 %".12", label %"i0.body", label %"i0.done"
i0.body:
  %"i0" = phi  i64 [%".1", %"entry"], [%".62", %"i0.body"]
  %".14" = getelementptr double, ptr %".4", i64 %"i0"
  %".15" = getelementptr double, ptr %".5", i64 %"i0"
  %".16" = getelementptr double, ptr %".6", i64 %"i0"
  %".17" = load double, ptr %".14"
  %".18" = fmul double %".17", %".17"
  %".19" = fmul double %".18", %".17"
  %".20" = bitcast double %".17" to i64
  %".21" = and i64 %".20", 9223372036854775807
  %".22" = lshr i64 %".21", 52
  %".23" = sub i64 %".22", 1023
  %".24" = and i64 %".20", 4503599627370495
  %".25" = or i64 %".24", 4607182418800017408
  %".26" = bitcast i64 %".25" to double
  %".27" = fmul double %".26", %".26"
  %".28" = fneg double %".27"
  %".29" = call double @"llvm.fma.f64"(double %".26", double %".26", double %".28")
  %".30" = fmul double %".27", %".27"
  %".31" = fneg double %".30"
  %".32" = call double @"llvm.fma.f64"(double %".27", double %".27", double %".31")
  %".33" = fadd double %".27", %".27"
  %".34" = call double @"llvm.fma.f64"(double %".33", double %".29", double %".32")
  %".35" = fmul double %".30", %".26"
  %".36" = fneg double %".35"
  %".37" = call double @"llvm.fma.f64"(double %".30", double %".26", double %".36")
  %".38" = call double @"llvm.fma.f64"(double %".34", double %".26", double %".37")
  %".39" = fadd double %".35", %".38"
  %".40" = mul i64 %".23", 5
  %".41" = icmp slt i64 %".40", -1082
  %".42" = select  i1 %".41", i64 -1082, i64 %".40"
  %".43" = icmp sgt i64 %".42", 1024
  %".44" = select  i1 %".43", i64 1024, i64 %".42"
  %".45" = sub i64 %".44", -1082
  %".46" = lshr i64 %".45", 1
  %".47" = add i64 %".46", -541
  %".48" = add i64 %".47", 1023
  %".49" = shl i64 %".48", 52
  %".50" = bitcast i64 %".49" to double
  %".51" = fmul double %".39", %".50"
  %".52" = sub i64 %".44", %".47"
  %".53" = add i64 %".52", 1023
  %".54" = shl i64 %".53", 52
  %".55" = bitcast i64 %".54" to double
  %".56" = fmul double %".51", %".55"
  %".57" = call double @"llvm.copysign.f64"(double %".56", double %".17")
  %".58" = fcmp uno double %".17", %".17"
  %".59" = select  i1 %".58", double %".17", double %".57"
  store double %".19", ptr %".15"
  store double %".59", ptr %".16"
  %".62" = add i64 %"i0", 1
  %".63" = icmp slt i64 %".62", %".2"
  br i1 %".63", label %"i0.body", label %"i0.done"
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
  %".17" = getelementptr i64, ptr %".1", i64 6
  %".18" = load i64, ptr %".17"
  %".19" = getelementptr i64, ptr %".1", i64 7
  %".20" = load ptr, ptr %".19"
  call void @"golden.inner"(i64 %".2", i64 %".3", i64 %".6", ptr %".8", ptr %".12", ptr %".16", i64 %".10", i64 %".14", i64 %".18", ptr %".20")
  ret void
}
