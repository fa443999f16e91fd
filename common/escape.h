/* Escaping of names ovlbackend does not choose (entries of layers, rootfs paths, the kernel's own
 * messages) at the output boundary, so that a hostile name can neither break the one-line error
 * contract or `list`'s one line per rootfs, nor send control sequences to a terminal. */
#pragma once

#include <stddef.h>
#include <stdio.h>

/* Returns the length (1 to 4) of the well-formed UTF-8 sequence that s starts with, or 0 when it
 * starts none: a stray continuation byte, an overlong form, a surrogate, a code point past
 * U+10FFFF, or a sequence cut short (by the terminating NUL too). s must not be at its NUL. */
size_t ovl_escape_utf8_len(const char *s);

/* Writes s to out for a reader of lines and a terminal: every byte below 0x20, 0x7f, every byte
 * that is not part of well-formed UTF-8, and both bytes of a UTF-8 C1 control (U+0080-U+009F,
 * which some terminals obey as they obey ESC) become \xHH (lowercase hex); a backslash becomes
 * \\. Any other UTF-8 (é, 日本) is written as it is. Escaping the backslash makes the form
 * reversible: a name that holds the text "\x0a" is written "\\x0a", never as a newline's escape,
 * so a reader can always recover the exact bytes. NULL writes nothing. */
void ovl_escape_text(FILE *out, const char *s);
