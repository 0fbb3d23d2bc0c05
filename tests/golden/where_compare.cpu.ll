define internal void @"golden.inner"(i64 %".1", i64 %".2", i64 %".3", ptr noalias %".4", ptr noalias %".5", ptr noalias %".6", i64 %".7", i64 %".8", i64 %".9", ptr %".10") alwaysinline
{
entry:
  %".12" = icmp slt i64 %".1", %".2"
  br i1 %".12", label %"i0.body", label %"i0.done"
i0.body:
  %"i0" = phi  i64 [%".1", %"entry"], [%".23", %"i0.body"]
  %".14" = getelementptr double, ptr %".4", i64 %"i0"
  %".15" = getelementptr double, ptr %".5", i64 %"i0"
  %".16" = getelementptr double, ptr %".6", i64 %"i0"
  %".17" = load double, ptr %".14"
  %".18" = load double, ptr %".15"
  %".19" = fcmp ogt double %".17", %".18"
  %".20" = fneg double %".18"
  %".21" = select  i1 %".19", double %".17", double %".20"
  store double %".21", ptr %".16"
  %".23" = add i64 %"i0", 1
  %".24" = icmp slt i64 %".23", %".2"
  br i1 %".24", label %"i0.body", label %"i0.done"
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
  call void @"golden.inner"(i64 %".2", i64 %".3", i64 %".6", ptr %".8", ptr %".12", ptr %".16", i64 %".10", i64 %".14", i64 %".18", ptr %".20")
  ret void
}
