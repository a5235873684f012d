/* Chat conversations for SFT: JSONL reading, the Tulu chat template, and the
 * loss mask.
 *
 * Input: one JSON object per line, {"messages":[{"role":R,"content":C},...]}
 * with R one of "system", "user", "assistant" and C a string (other keys,
 * such as an eval file's "answer" or Tulu 3's "id" and "source", are
 * ignored, in the line and in each message). Any number of turns, with
 * system messages anywhere. Blank lines are skipped. A
 * malformed line is an error "FILE:LINE: what is wrong"; nothing crashes.
 *
 * Template (each piece encoded separately, so a mask boundary is always a
 * token boundary and a prompt is a prefix of the full rendering):
 *   system     <|system|> "\n" content "\n"
 *   user       <|user|> "\n" content "\n"
 *   assistant  <|assistant|> "\n" content <|endoftext|> "\n"
 * Loss mask: 1 exactly on an assistant message's content tokens and its
 * <|endoftext|>; 0 on everything else (role markers, the "\n" after them,
 * user/system text, the "\n" after <|endoftext|>).
 * mask[i] refers to token i as a TARGET: with inputs tokens[p..p+T-1] and
 * targets tokens[p+1..p+T], target j counts iff mask[p+1+j] == 1.
 *
 * SFT stream: conversations are PACKED, whole, into rows of R = T+1 tokens
 * (the loader's LOADER_ROWS layout, data/loader.h): a conversation goes into
 * the current row if it fits, otherwise the row is filled up with
 * <|endoftext|> padding (mask 0) and the conversation starts the next row.
 * Token and mask streams are written as two llm.c shards of the same layout
 * (mask as 0/1 uint16). Why packing rather than one padded example per row:
 * the world's QA turns are ~20-40 tokens against contexts of 256+, so padding
 * every example would spend most of each step on pad tokens; packing whole
 * conversations into rows (instead of one unbroken stream) means no
 * conversation is ever cut from its prompt by a window boundary, at the cost
 * of a short padded tail per row. Within a row attention crosses
 * conversation boundaries; each conversation ends in <|endoftext|>, which
 * the model learns as a separator (as between pre-training documents).
 * With row_tokens = 0 the stream is plain concatenation (LOADER_STREAM).
 * A conversation longer than max_tokens (at most R in rows mode) is cut to
 * its first max_tokens tokens (counted as truncated); if no assistant token
 * survives the cut (or it has no assistant message at all) it is dropped
 * (counted as dropped). */
#ifndef PLATEAU_CHAT_H
#define PLATEAU_CHAT_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "data/tokenizer.h"

typedef enum { CHAT_SYSTEM = 0, CHAT_USER, CHAT_ASSISTANT } ChatRole;

typedef struct {
    ChatRole role;
    char    *content;      /* owned, NUL-terminated UTF-8 */
} ChatMessage;

typedef struct {
    ChatMessage *messages; /* owned */
    int          n_messages;
} ChatConversation;

typedef struct {
    ChatConversation *items;   /* owned */
    long             *lines;   /* 1-based line number of each item in its file */
    size_t            n;
} ChatDataset;

const char *chat_role_name(ChatRole r);   /* "system", "user", "assistant" */

/* The template above as a Jinja chat_template (Hugging Face
 * tokenizer_config.json, GGUF tokenizer.chat_template): rendering
 * `messages` gives the text of chat_encode's tokens (special tokens as their
 * text), and add_generation_prompt appends "<|assistant|>\n" as
 * chat_encode_prompt does. Roles other than the three render nothing. */
extern const char CHAT_TEMPLATE_JINJA[];

/* Parses one JSONL line (bytes need not be NUL-terminated). file and line
 * label the error: "FILE:LINE: messages[1].role \"bot\" is not ...". */
int  chat_parse_line(ChatConversation *c, const char *json, size_t bytes,
                     const char *file, long line, Err *e);
void chat_conversation_free(ChatConversation *c);

/* Reads a whole JSONL file (also .jsonl.gz, .jsonl.zst: data/zfile.h);
 * stops at the first malformed line. */
int  chat_read_jsonl(ChatDataset *d, const char *path, Err *e);
/* The same, skipping up to max_bad_lines malformed lines: *bad_lines counts
 * them and *first_bad (may be NULL) holds the first one's message; one more
 * is an error carrying its own message. */
int  chat_read_jsonl_skipping(ChatDataset *d, const char *path, long max_bad_lines, long *bad_lines, Err *first_bad,
                              Err *e);
void chat_dataset_free(ChatDataset *d);

/* Puts one space before every assistant reply that does not start with
 * one. The template encodes each message on its own, so a reply "Lima"
 * would start with the word-initial token of "Lima", while pre-training
 * text only ever has " Lima" (the word split keeps the space in front of a
 * word); a small model cannot bridge the two spellings of every fact's
 * first word from a few hundred SFT examples. Spaced replies train the
 * tokens pre-training taught; exact match trims the generated space. */
void chat_space_replies(ChatConversation *c);

/* Appends the template rendering of c to ids (and, if mask != NULL, the
 * loss mask to *mask, same length); buffers are realloc'd, *n counts used
 * entries and *cap the allocated ones (shared by ids and mask). -1 only on
 * allocation failure. */
int  chat_encode(const Tokenizer *t, const ChatConversation *c,
                 int **ids, uint8_t **mask, size_t *n, size_t *cap, Err *e);
/* The prompt for generating a reply: every message of c rendered as above,
 * then <|assistant|> "\n". Generation stops at <|endoftext|>. */
int  chat_encode_prompt(const Tokenizer *t, const ChatConversation *c,
                        int **ids, size_t *n, size_t *cap, Err *e);

typedef struct {
    uint16_t *tokens;       /* owned */
    uint16_t *mask;         /* owned, 0/1 */
    size_t    n_tokens, cap;
    size_t    row_tokens;   /* R: rows of R tokens; 0: one unbroken stream */
    long      examples;     /* conversations packed (truncated ones included) */
    long      truncated;    /* packed but cut to max_tokens */
    long      dropped;      /* not packed: no assistant token within max_tokens */
    long      loss_tokens;  /* tokens with mask 1 */
    long      pad_tokens;   /* <|endoftext|> padding at row ends */
} SftStream;

/* An empty stream; row_tokens = T+1 for the loader's LOADER_ROWS layout, or
 * 0 for plain concatenation. */
void sft_stream_init(SftStream *s, size_t row_tokens);
/* Appends one conversation under the rules above (max_tokens is capped at
 * row_tokens in rows mode). Fails if a token id does not fit uint16
 * (vocabulary larger than 65536). */
int  sft_stream_add(SftStream *s, const Tokenizer *t, const ChatConversation *c,
                    size_t max_tokens, Err *e);
/* Pads the last row to R tokens (rows mode; nothing otherwise). Call once
 * after the last add, before writing. */
int  sft_stream_finish(SftStream *s, const Tokenizer *t, Err *e);
/* Writes the token shard and the mask shard (atomic, shard.h layout). */
int  sft_stream_write(const SftStream *s, const char *tokens_path, const char *mask_path, Err *e);
void sft_stream_free(SftStream *s);

#endif
