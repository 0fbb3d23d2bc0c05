define internal void @"golden.inner"(i64 %".1", i64 %".2", i64 %".3", ptr noalias %".4", ptr noalias %".5", ptr noalias %".6", ptr noalias %".7", i64 %".8", i64 %".9", i64 %".10", i64 %".11", ptr %".12") alwaysinline
{
entry:
  %".14" = icmp slt i64 %".1", %".2"
  br i1 %".14", label %"i0.body", label %"i0.done"
i0.body:
  %"i0" = phi  i64 [%".1", %"entry"], [%".26", %"i0.body"]
  %".16" = getelementptr double, ptr %".4", i64 %"i0"
  %".17" = getelementptr double, ptr %".5", i64 %"i0"
  %".18" = getelementptr double, ptr %".6", i64 %"i0"
  %".19" = getelementptr double, ptr %".7", i64 %"i0"
  %".20" = load double, ptr %".16"
  %".21" = load double, ptr %".17"
  %".22" = fadd double %".20", %".21"
  %".23" = fmul double %".20", %".21"
  store double %".22", ptr %".18"
  store double %".23", ptr %".19"
  %".26" = add i64 %"i0", 1
  %".27" = icmp slt i64 %".26", %".2"
  br i1 %".27", label %"i0.body", label %"i0.done"
i0.done:
  ret void
}

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
  %".21" = getelementptr i64, ptr %".1", i64 8
  %".22" = load i64, ptr %".21"
  %".23" = getelementptr i64, ptr %".1", i64 9
  %".24" = load ptr, ptr %".23"
  call void @"golden.inner"(i64 %".2", i64 %".3", i64 %".6", ptr %".8", ptr %".12", ptr %".16", ptr %".20", i64 %".10", i64 %".14", i64 %".18", i64 %".22", ptr %".24")
  ret void
}
