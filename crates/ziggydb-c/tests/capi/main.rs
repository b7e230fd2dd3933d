//! The C ABI from the outside: the header is current, and C and C++ programs built with
//! gcc/g++ (under AddressSanitizer and UndefinedBehaviorSanitizer, and once under valgrind)
//! pass their tests against libziggydb.a and libziggydb.so.

mod header;
