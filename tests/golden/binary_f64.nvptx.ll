define ptx_kernel void @"golden"(i64 %".1", i64 %".2", i64 %".3", i64 %".4", i64 %".5", i64 %".6", i64 %".7", i64 %".8")
{
entry:
  %".10" = inttoptr i64 %".2" to ptr addrspace(1)
  %".11" = inttoptr i64 %".4" to ptr addrspace(1)
  %".12" = inttoptr i64 %".6" to ptr addrspace(1)
  %".13" = inttoptr i64 %".8" to ptr addrspace(1)
  %".14" = call i32 @"llvm.nvvm.read.ptx.sreg.ntid.x"()
  %".15" = zext i32 %".14" to i64
  %".16" = call i32 @"llvm.nvvm.read.ptx.sreg.ctaid.x"()
  %".17" = zext i32 %".16" to i64
  %".18" = mul i64 %".17", %".15"
  %".19" = call i32 @"llvm.nvvm.read.ptx.sreg.tid.x"()
  %".20" = zext i32 %".19" to i64
  %".21" = add i64 %".18", %".20"
  %".22" = call i32 @"llvm.nvvm.read.ptx.sreg.nctaid.x"()
  %".23" = zext i32 %".22" to i64
  %".24" = mul i64 %".23", %".15"
  %".25" = icmp slt i64 %".21", %".1"
  br i1 %".25", label %"flat.body", label %"flat.done"
flat.body:
  %"flat" = phi  i64 [%".21", %"entry"], [%".37", %"flat.body"]
  %".27" = mul i64 %"flat", %".3"
  %".28" = getelementptr i8, ptr addrspace(1) %".10", i64 %".27"
  %".29" = mul i64 %"flat", %".5"
  %".30" = getelementptr i8, ptr addrspace(1) %".11", i64 %".29"
  %".31" = mul i64 %"flat", %".7"
  %".32" = getelementptr i8, ptr addrspace(1) %".12", i64 %".31"
  %".33" = load double, ptr addrspace(1) %".28"
  %".34" = load double, ptr addrspace(1) %".30"
  %".35" = fadd double %".33", %".34"
  store double %".35", ptr addrspace(1) %".32"
  %".37" = add i64 %"flat", %".24"
  %".38" = icmp slt i64 %".37", %".1"
  br i1 %".38", label %"flat.body", label %"flat.done"
flat.done:
  ret void
}

declare i32 @"llvm.nvvm.read.ptx.sreg.ntid.x"()

declare i32 @"llvm.nvvm.read.ptx.sreg.ctaid.x"()

declare i32 @"llvm.nvvm.read.ptx.sreg.tid.x"()

declare i32 @"llvm.nvvm.read.ptx.sreg.nctaid.x"()

!nvvm.annotations = !{ !0 }
!0 = !{ void (i64, i64, i64, i64, i64, i64, i64, i64)* @"golden", !"kernel", i32 1 }
