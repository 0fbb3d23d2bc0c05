define internal void @"golden.inner"(i64 %".1", i64 %".2", i64 %".3", i64 %".4", ptr noalias %".5", ptr noalias %".6", ptr noalias %".7", i64 %".8", i64 %".9", i64 %".10", i64 %".11", i64 %".12", i64 %".13", ptr %".14") alwaysinline
{
entry:
  %".16" = icmp slt i64 %".1", %".2"
  br i1 %".16", label %"i0.body", label %"i0.done"
i0.body:
  %"i0" = phi  i64 [%".1", %"entry"], [%".38", %"i1.done"]
  %".18" = mul i64 %"i0", %".8"
  %".19" = getelementptr i8, ptr %".5", i64 %".18"
  %".20" = mul i64 %"i0", %".10"
  %".21" = getelementptr i8, ptr %".6", i64 %".20"
  %".22" = mul i64 %"i0", %".12"
  %".23" = getelementptr i8, ptr %".7", i64 %".22"
  %".24" = icmp slt i64 0, %".4"
  br i1 %".24", label %"i1.body", label %"i1.done"
i0.done:
  ret void
i1.body:
  %"i1" = phi  i64 [0, %"i0.body"], [%".35", %"i1.body"]
  %".26" = mul i64 %"i1", %".9"
  %".27" = getelementptr i8, ptr %".19", i64 %".26"
  %".28" = mul i64 %"i1", %".11"
  %".29" = getelementptr i8, ptr %".21", i64 %".28"
  %".30" = getelementptr double, ptr %".23", i64 %"i1"
  %".31" = load double, ptr %".27"
  %".32" = load double, ptr %".29"
  %".33" = fmul double %".31", %".32"
  store double %".33", ptr %".30"
  %".35" = add i64 %"i1", 1
  %".36" = icmp slt i64 %".35", %".4"
  br i1 %".36", label %"i1.body", label %"i1.done"
i1.done:
  %".38" = add i64 %"i0", 1
  %".39" = icmp slt i64 %".38", %".2"
  br i1 %".39", label %"i0.body", label %"i0.done"
}

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
  %".23" = getelementptr i64, ptr %".1", i64 9
  %".24" = load i64, ptr %".23"
  %".25" = getelementptr i64, ptr %".1", i64 10
  %".26" = load i64, ptr %".25"
  %".27" = getelementptr i64, ptr %".1", i64 11
  %".28" = load ptr, ptr %".27"
  call void @"golden.inner"(i64 %".2", i64 %".3", i64 %".6", i64 %".8", ptr %".10", ptr %".16", ptr %".22", i64 %".12", i64 %".14", i64 %".18", i64 %".20", i64 %".24", i64 %".26", ptr %".28")
  ret void
}
