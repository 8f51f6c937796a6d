//! `elf::read_facts` on arbitrary bytes: any result is fine, a panic is not.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(facts) = depmod::scan::elf::read_facts(data) {
        // Touch the interned strings so out-of-range `Str`s would show.
        let _ = facts.alias_values().count();
        let _ = facts.softdep_values().count();
        let _ = facts.weakdep_values().count();
    }
});
