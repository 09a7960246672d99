//! Test binary `shipping`: the library as it ships — exported symbols, the C header and its
//! docs, the C API from C (also under sanitizers and valgrind), the C++ and Python bindings and
//! installation. The C builds share one `make -C examples-c` under a file lock.

mod programs;

mod shipping {
    mod abi;
    mod c_api;
    mod client_c;
    mod cpp;
    mod header_docs;
    mod install;
    mod python_ffi;
    mod sanitizers;
    mod support;
}
