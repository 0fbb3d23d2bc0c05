define internal void @"golden.inner"(i64 %".1", i64 %".2", i64 %".3", ptr noalias %".4", ptr noalias %".5", i64 %".6", i64 %".7", ptr %".8") alwaysinline
{
entry:
  %".10" = icmp slt i64 %".1", %".2"
  br i1 %".10", label %"i0.body", label %"i0.done"
i0.body:
  %"i0" = phi  i64 [%".1", %"entry"], [%".17", %"i0.body"]
  %".12" = getelementptr double, ptr %".4", i64 %"i0"
  %".13" = getelementptr double, ptr %".5", i64 %"i0"
  %".14" = load double, ptr %".12"
  %".15" = call double @"lazyarr_math_exp_f64"(double %".14") "vector-function-abi-variant"="_ZGV_LLVM_N4v_lazyarr_math_exp_f64(_ZGV_LLVM_N4v_lazyarr_math_exp_f64),_ZGV_LLVM_N16v_lazyarr_math_exp_f64(_ZGV_LLVM_N16v_lazyarr_math_exp_f64)"
  store double %".15", ptr %".13"
  %".17" = add i64 %"i0", 1
  %".18" = icmp slt i64 %".17", %".2"
  br i1 %".18", label %"i0.body", label %"i0.done", !llvm.loop !1
i0.done:
  ret void
}

declare double @"lazyarr_math_exp_f64"(double %".1") nounwind readnone

declare <4 x double> @"_ZGV_LLVM_N4v_lazyarr_math_exp_f64"(<4 x double> %".1") nounwind readnone

declare <16 x double> @"_ZGV_LLVM_N16v_lazyarr_math_exp_f64"(<16 x double> %".1") nounwind readnone

@"llvm.compiler.used" = appending global [2 x ptr] [<4 x double> (<4 x double>)* @"_ZGV_LLVM_N4v_lazyarr_math_exp_f64", <16 x double> (<16 x double>)* @"_ZGV_LLVM_N16v_lazyarr_math_exp_f64"], section "llvm.metadata"
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

!0 = !{ !"llvm.loop.vectorize.width", i32 16 }
!1 = distinct !{ !1, !0 }
