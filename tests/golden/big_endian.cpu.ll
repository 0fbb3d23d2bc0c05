define internal void @"golden.inner"(i64 %".1", i64 %".2", i64 %".3", ptr noalias %".4", ptr noalias %".5", i64 %".6", i64 %".7", double %".8", ptr %".9") alwaysinline
{
entry:
  %".11" = icmp slt i64 %".1", %".2"
  br i1 %".11", label %"i0.body", label %"i0.done"
i0.body:
  %"i0" = phi  i64 [%".1", %"entry"], [%".20", %"i0.body"]
  %".13" = getelementptr double, ptr %".4", i64 %"i0"
  %".14" = getelementptr double, ptr %".5", i64 %"i0"
  %".15" = load i64, ptr %".13"
  %".16" = call i64 @"llvm.bswap.i64"(i64 %".15")
  %".17" = bitcast i64 %".16" to double
  %".18" = fmul double %".17", %".8"
  store double %".18", ptr %".14"
  %".20" = add i64 %"i0", 1
  %".21" = icmp slt i64 %".20", %".2"
  br i1 %".21", label %"i0.body", label %"i0.done"
i0.done:
  ret void
}

declare i64 @"llvm.bswap.i64"(i64 %".1")

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
  %".16" = load double, ptr %".15"
  %".17" = getelementptr i64, ptr %".1", i64 6
  %".18" = load ptr, ptr %".17"
  call void @"golden.inner"(i64 %".2", i64 %".3", i64 %".6", ptr %".8", ptr %".12", i64 %".10", i64 %".14", double %".16", ptr %".18")
  ret void
}
