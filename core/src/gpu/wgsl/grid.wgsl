// Prepended to every kernel (program.rs, Kernel::new). A 1-D launch wider than the 65535
// workgroups one dimension allows spills into y (program.rs, `grid`): the thread's index is
// x + y · (workgroups in x) · (threads per workgroup).
fn thread_index(gid: vec3<u32>, nwg: vec3<u32>, workgroup_size: u32) -> u32 {
    return gid.x + gid.y * nwg.x * workgroup_size;
}
