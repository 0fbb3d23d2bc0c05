define ptx_kernel void @"golden"(i64 %".1", i64 %".2", i64 %".3", i64 %".4", i64 %".5", i64 %".6", i64 %".7", i64 %".8", i64 %".9")
{
entry:
  %".31" = alloca double
  %".11" = inttoptr i64 %".3" to ptr addrspace(1)
  %".12" = inttoptr i64 %".6" to ptr addrspace(1)
  %".13" = inttoptr i64 %".9" to ptr addrspace(1)
  %".14" = call i32 @"llvm.nvvm.read.ptx.sreg.tid.x"()
  %".15" = zext i32 %".14" to i64
  %".16" = call i32 @"llvm.nvvm.read.ptx.sreg.ntid.x"()
  %".17" = zext i32 %".16" to i64
  %".18" = trunc i64 %".15" to i32
  %".19" = and i32 %".18", 31
  %".20" = lshr i32 %".18", 5
  %".21" = call i32 @"llvm.nvvm.read.ptx.sreg.ctaid.x"()
  %".22" = zext i32 %".21" to i64
  %".23" = call i32 @"llvm.nvvm.read.ptx.sreg.nctaid.x"()
  %".24" = zext i32 %".23" to i64
  %".25" = icmp slt i64 %".22", %".1"
  br i1 %".25", label %"outer.body", label %"outer.done"
outer.body:
  %"outer" = phi  i64 [%".22", %"entry"], [%".191", %"r.done.1"]
  %".27" = mul i64 %"outer", %".4"
  %".28" = getelementptr i8, ptr addrspace(1) %".11", i64 %".27"
  %".29" = mul i64 %"outer", %".7"
  %".30" = getelementptr i8, ptr addrspace(1) %".12", i64 %".29"
  store double 0xfff0000000000000, double* %".31"
  %".33" = icmp slt i64 %".15", %".2"
  br i1 %".33", label %"r.body", label %"r.done"
outer.done:
  ret void
r.body:
  %"r" = phi  i64 [%".15", %"outer.body"], [%".43", %"r.body"]
  %".35" = mul i64 %"r", %".5"
  %".36" = getelementptr i8, ptr addrspace(1) %".28", i64 %".35"
  %".37" = mul i64 %"r", %".8"
  %".38" = getelementptr i8, ptr addrspace(1) %".30", i64 %".37"
  %".39" = load double, ptr addrspace(1) %".36"
  %".40" = load double, double* %".31"
  %".41" = call double @"llvm.maximum.f64"(double %".40", double %".39")
  store double %".41", double* %".31"
  %".43" = add i64 %"r", %".17"
  %".44" = icmp slt i64 %".43", %".2"
  br i1 %".44", label %"r.body", label %"r.done"
r.done:
  %".46" = load double, double* %".31"
  %".47" = bitcast double %".46" to i64
  %".48" = trunc i64 %".47" to i32
  %".49" = call i32 @"llvm.nvvm.shfl.sync.bfly.i32"(i32 -1, i32 %".48", i32 16, i32 31)
  %".50" = lshr i64 %".47", 32
  %".51" = trunc i64 %".50" to i32
  %".52" = call i32 @"llvm.nvvm.shfl.sync.bfly.i32"(i32 -1, i32 %".51", i32 16, i32 31)
  %".53" = zext i32 %".49" to i64
  %".54" = zext i32 %".52" to i64
  %".55" = shl i64 %".54", 32
  %".56" = or i64 %".53", %".55"
  %".57" = bitcast i64 %".56" to double
  %".58" = call double @"llvm.maximum.f64"(double %".46", double %".57")
  %".59" = bitcast double %".58" to i64
  %".60" = trunc i64 %".59" to i32
  %".61" = call i32 @"llvm.nvvm.shfl.sync.bfly.i32"(i32 -1, i32 %".60", i32 8, i32 31)
  %".62" = lshr i64 %".59", 32
  %".63" = trunc i64 %".62" to i32
  %".64" = call i32 @"llvm.nvvm.shfl.sync.bfly.i32"(i32 -1, i32 %".63", i32 8, i32 31)
  %".65" = zext i32 %".61" to i64
  %".66" = zext i32 %".64" to i64
  %".67" = shl i64 %".66", 32
  %".68" = or i64 %".65", %".67"
  %".69" = bitcast i64 %".68" to double
  %".70" = call double @"llvm.maximum.f64"(double %".58", double %".69")
  %".71" = bitcast double %".70" to i64
  %".72" = trunc i64 %".71" to i32
  %".73" = call i32 @"llvm.nvvm.shfl.sync.bfly.i32"(i32 -1, i32 %".72", i32 4, i32 31)
  %".74" = lshr i64 %".71", 32
  %".75" = trunc i64 %".74" to i32
  %".76" = call i32 @"llvm.nvvm.shfl.sync.bfly.i32"(i32 -1, i32 %".75", i32 4, i32 31)
  %".77" = zext i32 %".73" to i64
  %".78" = zext i32 %".76" to i64
  %".79" = shl i64 %".78", 32
  %".80" = or i64 %".77", %".79"
  %".81" = bitcast i64 %".80" to double
  %".82" = call double @"llvm.maximum.f64"(double %".70", double %".81")
  %".83" = bitcast double %".82" to i64
  %".84" = trunc i64 %".83" to i32
  %".85" = call i32 @"llvm.nvvm.shfl.sync.bfly.i32"(i32 -1, i32 %".84", i32 2, i32 31)
  %".86" = lshr i64 %".83", 32
  %".87" = trunc i64 %".86" to i32
  %".88" = call i32 @"llvm.nvvm.shfl.sync.bfly.i32"(i32 -1, i32 %".87", i32 2, i32 31)
  %".89" = zext i32 %".85" to i64
  %".90" = zext i32 %".88" to i64
  %".91" = shl i64 %".90", 32
  %".92" = or i64 %".89", %".91"
  %".93" = bitcast i64 %".92" to double
  %".94" = call double @"llvm.maximum.f64"(double %".82", double %".93")
  %".95" = bitcast double %".94" to i64
  %".96" = trunc i64 %".95" to i32
  %".97" = call i32 @"llvm.nvvm.shfl.sync.bfly.i32"(i32 -1, i32 %".96", i32 1, i32 31)
  %".98" = lshr i64 %".95", 32
  %".99" = trunc i64 %".98" to i32
  %".100" = call i32 @"llvm.nvvm.shfl.sync.bfly.i32"(i32 -1, i32 %".99", i32 1, i32 31)
  %".101" = zext i32 %".97" to i64
  %".102" = zext i32 %".100" to i64
  %".103" = shl i64 %".102", 32
  %".104" = or i64 %".101", %".103"
  %".105" = bitcast i64 %".104" to double
  %".106" = call double @"llvm.maximum.f64"(double %".94", double %".105")
  %".107" = icmp eq i32 %".19", 0
  br i1 %".107", label %"r.done.if", label %"r.done.endif"
r.done.if:
  %".109" = getelementptr [8 x double], [8 x double] addrspace(3)* @"golden.shared1", i32 0, i32 %".20"
  store double %".106", double addrspace(3)* %".109"
  br label %"r.done.endif"
r.done.endif:
  call void @"llvm.nvvm.barrier0"()
  %".113" = icmp ult i32 %".19", 8
  %".114" = select  i1 %".113", i32 %".19", i32 0
  %".115" = getelementptr [8 x double], [8 x double] addrspace(3)* @"golden.shared1", i32 0, i32 %".114"
  %".116" = load double, double addrspace(3)* %".115"
  %".117" = select  i1 %".113", double %".116", double 0xfff0000000000000
  %".118" = bitcast double %".117" to i64
  %".119" = trunc i64 %".118" to i32
  %".120" = call i32 @"llvm.nvvm.shfl.sync.bfly.i32"(i32 -1, i32 %".119", i32 16, i32 31)
  %".121" = lshr i64 %".118", 32
  %".122" = trunc i64 %".121" to i32
  %".123" = call i32 @"llvm.nvvm.shfl.sync.bfly.i32"(i32 -1, i32 %".122", i32 16, i32 31)
  %".124" = zext i32 %".120" to i64
  %".125" = zext i32 %".123" to i64
  %".126" = shl i64 %".125", 32
  %".127" = or i64 %".124", %".126"
  %".128" = bitcast i64 %".127" to double
  %".129" = call double @"llvm.maximum.f64"(double %".117", double %".128")
  %".130" = bitcast double %".129" to i64
  %".131" = trunc i64 %".130" to i32
  %".132" = call i32 @"llvm.nvvm.shfl.sync.bfly.i32"(i32 -1, i32 %".131", i32 8, i32 31)
  %".133" = lshr i64 %".130", 32
  %".134" = trunc i64 %".133" to i32
  %".135" = call i32 @"llvm.nvvm.shfl.sync.bfly.i32"(i32 -1, i32 %".134", i32 8, i32 31)
  %".136" = zext i32 %".132" to i64
  %".137" = zext i32 %".135" to i64
  %".138" = shl i64 %".137", 32
  %".139" = or i64 %".136", %".138"
  %".140" = bitcast i64 %".139" to double
  %".141" = call double @"llvm.maximum.f64"(double %".129", double %".140")
  %".142" = bitcast double %".141" to i64
  %".143" = trunc i64 %".142" to i32
  %".144" = call i32 @"llvm.nvvm.shfl.sync.bfly.i32"(i32 -1, i32 %".143", i32 4, i32 31)
  %".145" = lshr i64 %".142", 32
  %".146" = trunc i64 %".145" to i32
  %".147" = call i32 @"llvm.nvvm.shfl.sync.bfly.i32"(i32 -1, i32 %".146", i32 4, i32 31)
  %".148" = zext i32 %".144" to i64
  %".149" = zext i32 %".147" to i64
  %".150" = shl i64 %".149", 32
  %".151" = or i64 %".148", %".150"
  %".152" = bitcast i64 %".151" to double
  %".153" = call double @"llvm.maximum.f64"(double %".141", double %".152")
  %".154" = bitcast double %".153" to i64
  %".155" = trunc i64 %".154" to i32
  %".156" = call i32 @"llvm.nvvm.shfl.sync.bfly.i32"(i32 -1, i32 %".155", i32 2, i32 31)
  %".157" = lshr i64 %".154", 32
  %".158" = trunc i64 %".157" to i32
  %".159" = call i32 @"llvm.nvvm.shfl.sync.bfly.i32"(i32 -1, i32 %".158", i32 2, i32 31)
  %".160" = zext i32 %".156" to i64
  %".161" = zext i32 %".159" to i64
  %".162" = shl i64 %".161", 32
  %".163" = or i64 %".160", %".162"
  %".164" = bitcast i64 %".163" to double
  %".165" = call double @"llvm.maximum.f64"(double %".153", double %".164")
  %".166" = bitcast double %".165" to i64
  %".167" = trunc i64 %".166" to i32
  %".168" = call i32 @"llvm.nvvm.shfl.sync.bfly.i32"(i32 -1, i32 %".167", i32 1, i32 31)
  %".169" = lshr i64 %".166", 32
  %".170" = trunc i64 %".169" to i32
  %".171" = call i32 @"llvm.nvvm.shfl.sync.bfly.i32"(i32 -1, i32 %".170", i32 1, i32 31)
  %".172" = zext i32 %".168" to i64
  %".173" = zext i32 %".171" to i64
  %".174" = shl i64 %".173", 32
  %".175" = or i64 %".172", %".174"
  %".176" = bitcast i64 %".175" to double
  %".177" = call double @"llvm.maximum.f64"(double %".165", double %".176")
  call void @"llvm.nvvm.barrier0"()
  %".179" = icmp slt i64 %".15", %".2"
  br i1 %".179", label %"r.body.1", label %"r.done.1"
r.body.1:
  %"r.1" = phi  i64 [%".15", %"r.done.endif"], [%".188", %"r.body.1"]
  %".181" = mul i64 %"r.1", %".5"
  %".182" = getelementptr i8, ptr addrspace(1) %".28", i64 %".181"
  %".183" = mul i64 %"r.1", %".8"
  %".184" = getelementptr i8, ptr addrspace(1) %".30", i64 %".183"
  %".185" = load double, ptr addrspace(1) %".182"
  %".186" = fsub double %".185", %".177"
  store double %".186", ptr addrspace(1) %".184"
  %".188" = add i64 %"r.1", %".17"
  %".189" = icmp slt i64 %".188", %".2"
  br i1 %".189", label %"r.body.1", label %"r.done.1"
r.done.1:
  %".191" = add i64 %"outer", %".24"
  %".192" = icmp slt i64 %".191", %".1"
  br i1 %".192", label %"outer.body", label %"outer.done"
}

declare i32 @"llvm.nvvm.read.ptx.sreg.tid.x"()

declare i32 @"llvm.nvvm.read.ptx.sreg.ntid.x"()

declare i32 @"llvm.nvvm.read.ptx.sreg.ctaid.x"()

declare i32 @"llvm.nvvm.read.ptx.sreg.nctaid.x"()

declare double @"llvm.maximum.f64"(double %".1", double %".2")

declare i32 @"llvm.nvvm.shfl.sync.bfly.i32"(i32 %".1", i32 %".2", i32 %".3", i32 %".4")

@"golden.shared1" = internal addrspace(3) global [8 x double] undef
declare void @"llvm.nvvm.barrier0"()

!nvvm.annotations = !{ !0 }
!0 = !{ void (i64, i64, i64, i64, i64, i64, i64, i64, i64)* @"golden", !"kernel", i32 1 }
