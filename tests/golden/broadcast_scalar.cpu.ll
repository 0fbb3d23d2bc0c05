define internal void @"golden.inner"(i64 %".1", i64 %".2", i64 %".3", ptr noalias %".4", ptr noalias %".5", i64 %".6", i64 %".7", float %".8", float %".9", ptr %".10") alwaysinline
{
entry:
  %".12" = icmp slt i64 %".1", %".2"
  br i1 %".12", label %"i0.body", label %"i0.done"
i0.body:
  %"i0" = phi  i64 [%".1", %"entry"], [%".20", %"i0.body"]
  %".14" = getelementptr float, ptr %".4", i64 %"i0"
  %".15" = getelementptr float, ptr %".5", i64 %"i0"
  %".16" = load float, ptr %".14"
  %".17" = fmul float %".16", %".8"
  %".18" = fadd float %".17", %".9"
  store float %".18", ptr %".15"
  %".20" = add i64 %"i0", 1
  %".21" = icmp slt i64 %".20", %".2"
  br i1 %".21", label %"i0.body", label %"i0.done"
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
  %".16" = load float, ptr %".15"
  %".17" = getelementptr i64, ptr %".1", i64 6
  %".18" = load float, ptr %".17"
  %".19" = getelementptr i64, ptr %".1", i64 7
  %".20" = load ptr, ptr %".19"
  call void @"golden.inner"(i64 %".2", i64 %".3", i64 %".6", ptr %".8", ptr %".12", i64 %".10", i64 %".14", float %".16", float %".18", ptr %".20")
  ret void
}
