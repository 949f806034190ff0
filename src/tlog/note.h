/*
 * note.h - C2SP signed notes (c2sp.org/signed-note) and transparency log
 * checkpoints (c2sp.org/tlog-checkpoint), Ed25519 only.
 *
 * A note is UTF-8 text ending in a newline, a blank line, then signature
 * lines "— <key name> <base64(key ID (4 bytes) || signature (64))>\n"
 * (U+2014, a space).  An Ed25519 key's ID is the first 4 bytes of
 * SHA-256(name || 0x0A || 0x01 || public key); the signature is over the
 * text, its final newline included.  A verifier key is written
 * "<name>+<key ID, 8 hex digits>+<base64(0x01 || public key)>".
 *
 * A checkpoint is the text "<origin>\n<tree size, decimal>\n<base64 of the
 * root hash>\n", optionally followed by extension lines, signed by a key
 * whose name is the origin.
 *
 * Parsers take hostile input: bounded (AT_NOTE_MAX), located errors (line
 * numbers) in d.  Thread-safe.
 */
#ifndef AT_TLOG_NOTE_H
#define AT_TLOG_NOTE_H

#include "base/diag.h"

#include <stddef.h>
#include <stdint.h>

#define AT_NOTE_MAX (16u << 10)
#define AT_NOTE_NAME_MAX 256
#define AT_NOTE_VKEY_MAX (AT_NOTE_NAME_MAX + 80)
#define AT_NOTE_SIGS_MAX 16

struct at_note_key {
    char name[AT_NOTE_NAME_MAX];
    unsigned char pk[32];
    uint32_t id; /* big-endian first 4 bytes of the hash, as a number */
};

/* Fill k from name and pk.  AT_EINVAL: a name that is empty, too long, or
 * holds a space, a '+' or a control character. */
int at_note_key_init(struct at_note_key *k, const char *name, const unsigned char pk[32]);
/* The verifier key text of k into out (AT_NOTE_VKEY_MAX bytes). */
void at_note_vkey(const struct at_note_key *k, char out[AT_NOTE_VKEY_MAX]);
/* Parse a verifier key.  AT_EPARSE with d filled when it is not one (or
 * its ID does not match its name and key). */
int at_note_vkey_parse(const char *text, struct at_note_key *k, struct at_diag *d);

/* Sign text[0..len) (which must end in a newline) as k->name with sk:
 * the whole note (text, blank line, signature line).  Caller frees. */
char *at_note_sign(const char *text, size_t len, const struct at_note_key *k,
                   const unsigned char sk[64], size_t *out_len);

/* Split note[0..len) and check its signature by k.  *text_len gets the
 * length of the signed text (from note[0]).  AT_EPARSE: not a note (d says
 * which line); AT_EPERM: no signature line by k, or one that does not
 * verify (d says which). */
int at_note_open(const char *note, size_t len, const struct at_note_key *k, size_t *text_len,
                 struct at_diag *d);

struct at_checkpoint {
    char origin[AT_NOTE_NAME_MAX];
    uint64_t size;
    unsigned char root[32];
};

/* The checkpoint body for c: caller frees. */
char *at_checkpoint_text(const struct at_checkpoint *c, size_t *len);
/* Parse a checkpoint body (the text of a note).  AT_EPARSE with the line
 * in d. */
int at_checkpoint_parse(const char *text, size_t len, struct at_checkpoint *c, struct at_diag *d);
/* at_note_open, then at_checkpoint_parse, then the origin must be k's name
 * (AT_EPERM otherwise). */
int at_checkpoint_open(const char *note, size_t len, const struct at_note_key *k,
                       struct at_checkpoint *c, struct at_diag *d);

#endif
