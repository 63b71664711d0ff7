// linker-script/hotpatch-area.S: the input the reserved patch area needs
// besides hotpatch-area.ld. A script alone cannot make an output section
// executable (lld and GNU ld give a section of only `. +=` or data commands
// the flags of no input: read-only, in a segment of its own), so this
// object gives .hotpatch.area.text its "ax" flags, .hotpatch.area.data its
// "aw" NOBITS, and the note hp-apply finds the area by (a PT_NOTE: read
// from the program headers, so a stripped binary keeps it). The same source
// serves x86_64 and aarch64.

	.section .hotpatch.area.text,"ax",%progbits
	.balign 4096
	// The area's header: hp-apply checks it in memory before using the
	// area. The rest of this page is room for injected code (the cave).
	.ascii "HPAREA01"

	.section .hotpatch.area.data,"aw",%nobits
	.balign 4096

	// docs/patch-format.md, "The reserved patch area": owner "HOTPATCH",
	// type 0x48500001, four 64-bit fields each holding an address minus
	// its own (link-time constants: no dynamic relocation in a read-only
	// note, in a PIE or a static PIE alike).
	.section .note.hotpatch.area,"a",%note
	.balign 4
	.long 9          // n_namesz
	.long 32         // n_descsz
	.long 0x48500001 // n_type
	.asciz "HOTPATCH"
	.balign 4
	.quad __hotpatch_area_text_start - .
	.quad __hotpatch_area_text_end - .
	.quad __hotpatch_area_data_start - .
	.quad __hotpatch_area_data_end - .

	.section .note.GNU-stack,"",%progbits
