/* Chat template, loss masks, SFT packing and JSONL errors. A byte-level
 * tokenizer (vocabulary 260 = 256 bytes + 4 specials, no merges) makes every
 * token position computable by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/file.h"
#include "data/chat.h"
#include "data/shard.h"
#include "data/tokenizer.h"

static Tokenizer *byte_tokenizer(void)
{
    static const char text[] = "Hi Yo Ok? No. a small corpus for a byte-level tokenizer";
    Tokenizer *t;
    Err e;
    if (tokenizer_train(&t, text, sizeof text - 1, 260, &e)) fail_msg("%s", e.msg);
    assert_int_equal(tokenizer_vocab_size(t), 260);
    return t;
}

static ChatConversation conversation(int n, const ChatRole *roles, const char *const *contents)
{
    ChatConversation c;
    c.n_messages = n;
    c.messages = calloc((size_t)n, sizeof *c.messages);
    for (int i = 0; i < n; i++) {
        c.messages[i].role = roles[i];
        c.messages[i].content = strdup(contents[i]);
    }
    return c;
}

static const ChatRole TWO_TURNS_ROLES[] = {CHAT_USER, CHAT_ASSISTANT, CHAT_USER, CHAT_ASSISTANT};
static const char *const TWO_TURNS[] = {"Hi", "Yo", "Ok?", "No"};

/* The single-byte id of character c (the tokenizer owns the byte -> id map). */
static int byte_id(const Tokenizer *t, char c)
{
    int *ids = NULL;
    size_t n = 0, cap = 0;
    assert_int_equal(tokenizer_encode(t, &c, 1, &ids, &n, &cap), 0);
    assert_int_equal(n, 1);
    int id = ids[0];
    free(ids);
    return id;
}

static void two_turn_mask_covers_exactly_the_assistant_spans_and_end_tokens(void **state)
{
    (void)state;
    Tokenizer *t = byte_tokenizer();
    ChatConversation c = conversation(4, TWO_TURNS_ROLES, TWO_TURNS);
    int *ids = NULL;
    uint8_t *mask = NULL;
    size_t n = 0, cap = 0;
    Err e;
    if (chat_encode(t, &c, &ids, &mask, &n, &cap, &e)) fail_msg("%s", e.msg);
    const int U = tokenizer_special(t, SPECIAL_USER), A = tokenizer_special(t, SPECIAL_ASSISTANT);
    const int END = tokenizer_special(t, SPECIAL_ENDOFTEXT), NL = byte_id(t, '\n');
    /* <|user|> \n H i \n <|assistant|> \n Y o <|eot|> \n <|user|> \n O k ? \n <|assistant|> \n N o <|eot|> \n */
    const int expect[] = {U, NL, byte_id(t, 'H'), byte_id(t, 'i'), NL, A, NL, byte_id(t, 'Y'), byte_id(t, 'o'), END, NL,
                          U, NL, byte_id(t, 'O'), byte_id(t, 'k'), byte_id(t, '?'), NL, A, NL, byte_id(t, 'N'), byte_id(t, 'o'), END, NL};
    const uint8_t expect_mask[] = {0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0,
                                   0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0};
    assert_int_equal(n, 23);
    for (size_t i = 0; i < n; i++) {
        if (ids[i] != expect[i]) fail_msg("token %zu: %d, expected %d", i, ids[i], expect[i]);
        if (mask[i] != expect_mask[i]) fail_msg("mask %zu: %d, expected %d", i, mask[i], expect_mask[i]);
    }
    /* the specials are the last four ids, distinct from every byte */
    assert_true(U >= 256 && A >= 256 && END >= 256);
    free(ids);
    free(mask);
    chat_conversation_free(&c);
    tokenizer_free(t);
}

static void system_message_and_generation_prompt_follow_the_template(void **state)
{
    (void)state;
    Tokenizer *t = byte_tokenizer();
    static const ChatRole roles[] = {CHAT_SYSTEM, CHAT_USER, CHAT_ASSISTANT};
    static const char *const text[] = {"Be", "Hi", "Yo"};
    ChatConversation c = conversation(3, roles, text);
    int *ids = NULL;
    uint8_t *mask = NULL;
    size_t n = 0, cap = 0;
    Err e;
    if (chat_encode(t, &c, &ids, &mask, &n, &cap, &e)) fail_msg("%s", e.msg);
    /* <|system|> \n B e \n | <|user|> \n H i \n | <|assistant|> \n Y o <|eot|> \n */
    assert_int_equal(n, 5 + 5 + 6);
    assert_int_equal(ids[0], tokenizer_special(t, SPECIAL_SYSTEM));
    assert_int_equal(ids[5], tokenizer_special(t, SPECIAL_USER));
    long masked = 0;
    for (size_t i = 0; i < n; i++) masked += mask[i];
    assert_int_equal(masked, 3);
    /* the prompt (without the reply) is the rendering up to and including <|assistant|> \n */
    c.n_messages = 2;
    int *prompt = NULL;
    size_t pn = 0, pcap = 0;
    if (chat_encode_prompt(t, &c, &prompt, &pn, &pcap, &e)) fail_msg("%s", e.msg);
    c.n_messages = 3;
    assert_int_equal(pn, 12);
    assert_memory_equal(prompt, ids, pn * sizeof *ids);
    assert_int_equal(prompt[10], tokenizer_special(t, SPECIAL_ASSISTANT));
    free(prompt);
    free(ids);
    free(mask);
    chat_conversation_free(&c);
    tokenizer_free(t);
}

static void long_conversations_are_cut_from_the_end_or_dropped(void **state)
{
    (void)state;
    Tokenizer *t = byte_tokenizer();
    ChatConversation c = conversation(4, TWO_TURNS_ROLES, TWO_TURNS);   /* 23 tokens */
    static const ChatRole user_only[] = {CHAT_USER};
    static const char *const hi[] = {"Hi"};
    ChatConversation u = conversation(1, user_only, hi);
    SftStream s = {0};
    Err e;
    /* 23 fits in 23: kept whole */
    assert_int_equal(sft_stream_add(&s, t, &c, 23, &e), 0);
    assert_int_equal(s.n_tokens, 23);
    assert_int_equal(s.truncated, 0);
    assert_int_equal(s.loss_tokens, 6);
    /* cut to 9: keeps "Y o" of the first reply (positions 7, 8), loses its end token */
    assert_int_equal(sft_stream_add(&s, t, &c, 9, &e), 0);
    assert_int_equal(s.n_tokens, 23 + 9);
    assert_int_equal(s.truncated, 1);
    assert_int_equal(s.loss_tokens, 6 + 2);
    assert_int_equal(s.mask[23 + 7], 1);
    assert_int_equal(s.mask[23 + 8], 1);
    assert_int_equal(s.mask[23 + 6], 0);
    /* cut to 7: no assistant token survives -> dropped, stream unchanged */
    assert_int_equal(sft_stream_add(&s, t, &c, 7, &e), 0);
    assert_int_equal(s.dropped, 1);
    /* no assistant message at all -> dropped */
    assert_int_equal(sft_stream_add(&s, t, &u, 100, &e), 0);
    assert_int_equal(s.dropped, 2);
    assert_int_equal(s.n_tokens, 32);
    assert_int_equal(s.examples, 2);
    chat_conversation_free(&c);
    chat_conversation_free(&u);
    sft_stream_free(&s);
    tokenizer_free(t);
}

static void rows_hold_whole_conversations_padded_with_end_tokens(void **state)
{
    (void)state;
    Tokenizer *t = byte_tokenizer();
    static const ChatRole roles[] = {CHAT_USER, CHAT_ASSISTANT};
    static const char *const a[] = {"Hi", "Yo"}, *const b[] = {"Ok?", "No"};
    ChatConversation c1 = conversation(2, roles, a), c2 = conversation(2, roles, b);   /* 11 and 12 tokens */
    ChatConversation c4 = conversation(4, TWO_TURNS_ROLES, TWO_TURNS);                /* 23 tokens */
    const int END = tokenizer_special(t, SPECIAL_ENDOFTEXT), U = tokenizer_special(t, SPECIAL_USER);
    SftStream s;
    Err e;
    sft_stream_init(&s, 24);
    /* row 0: c1 (11) + c2 (12) = 23 <= 24 */
    assert_int_equal(sft_stream_add(&s, t, &c1, 1000, &e), 0);
    assert_int_equal(sft_stream_add(&s, t, &c2, 1000, &e), 0);
    assert_int_equal(s.n_tokens, 23);
    /* c1 again does not fit the 1 token left: row 0 gets one pad, c1 starts row 1 at 24 */
    assert_int_equal(sft_stream_add(&s, t, &c1, 1000, &e), 0);
    assert_int_equal(s.n_tokens, 24 + 11);
    assert_int_equal(s.tokens[23], END);
    assert_int_equal(s.mask[23], 0);
    assert_int_equal(s.tokens[24], U);
    /* c4 (23) does not fit the 13 left: padded to 48, c4 fills row 2 up to 71 */
    assert_int_equal(sft_stream_add(&s, t, &c4, 1000, &e), 0);
    assert_int_equal(s.n_tokens, 48 + 23);
    assert_int_equal(sft_stream_finish(&s, t, &e), 0);
    assert_int_equal(s.n_tokens, 72);
    assert_int_equal(s.pad_tokens, 1 + 13 + 1);
    for (size_t i = 35; i < 48; i++) {
        assert_int_equal(s.tokens[i], END);
        assert_int_equal(s.mask[i], 0);
    }
    assert_int_equal(s.tokens[48], U);
    assert_int_equal(s.loss_tokens, 3 + 3 + 3 + 6);
    assert_int_equal(s.truncated, 0);
    /* longer than a row: cut to the row (max_tokens above R is capped) */
    SftStream r;
    sft_stream_init(&r, 16);
    assert_int_equal(sft_stream_add(&r, t, &c4, 1000, &e), 0);
    assert_int_equal(r.n_tokens, 16);
    assert_int_equal(r.truncated, 1);
    assert_int_equal(r.loss_tokens, 3);
    sft_stream_free(&r);
    sft_stream_free(&s);
    chat_conversation_free(&c1);
    chat_conversation_free(&c2);
    chat_conversation_free(&c4);
    tokenizer_free(t);
}

static char *temp_dir(void)
{
    char tmpl[] = "/tmp/plateau-chat-XXXXXX";
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    return strdup(d);
}

static void spaced_replies_get_exactly_one_leading_space(void **state)
{
    (void)state;
    const char *line = "{\"messages\":[{\"role\":\"user\",\"content\":\"Where?\"},"
                       "{\"role\":\"assistant\",\"content\":\"Lima\"},"
                       "{\"role\":\"user\",\"content\":\"And?\"},"
                       "{\"role\":\"assistant\",\"content\":\" Quito\"}]}";
    ChatConversation c;
    Err e;
    assert_int_equal(chat_parse_line(&c, line, strlen(line), "t.jsonl", 1, &e), 0);
    chat_space_replies(&c);
    chat_space_replies(&c);   /* idempotent */
    assert_string_equal(c.messages[0].content, "Where?");
    assert_string_equal(c.messages[1].content, " Lima");
    assert_string_equal(c.messages[2].content, "And?");
    assert_string_equal(c.messages[3].content, " Quito");
    chat_conversation_free(&c);
}

static void write_text(const char *path, const char *text)
{
    Err e;
    if (write_file_atomic(path, text, strlen(text), &e)) fail_msg("%s", e.msg);
}

static void jsonl_packs_into_token_and_mask_shards_of_one_layout(void **state)
{
    (void)state;
    Tokenizer *t = byte_tokenizer();
    char *dir = temp_dir(), in[4200], tok[4200], msk[4200];
    snprintf(in, sizeof in, "%s/sft.jsonl", dir);
    snprintf(tok, sizeof tok, "%s/sft.bin", dir);
    snprintf(msk, sizeof msk, "%s/sft.mask.bin", dir);
    write_text(in, "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":\"assistant\",\"content\":\"Yo\"}]}\n"
                   "\n"
                   "{\"messages\":[{\"role\":\"user\",\"content\":\"Ok?\"},{\"role\":\"assistant\",\"content\":\"No\"}],\"answer\":\"x\"}\n");
    ChatDataset d;
    Err e;
    if (chat_read_jsonl(&d, in, &e)) fail_msg("%s", e.msg);
    assert_int_equal(d.n, 2);
    assert_int_equal(d.lines[0], 1);
    assert_int_equal(d.lines[1], 3);   /* the blank line still counts */
    assert_string_equal(d.items[1].messages[0].content, "Ok?");
    SftStream s = {0};
    for (size_t i = 0; i < d.n; i++)
        if (sft_stream_add(&s, t, &d.items[i], 64, &e)) fail_msg("%s", e.msg);
    if (sft_stream_write(&s, tok, msk, &e)) fail_msg("%s", e.msg);
    Shard a, b;
    if (shard_read(&a, tok, &e) || shard_read(&b, msk, &e)) fail_msg("%s", e.msg);
    /* 11 + 12 tokens: the second conversation starts right after the first's "\n" */
    assert_int_equal(a.n_tokens, 23);
    assert_int_equal(b.n_tokens, 23);
    assert_int_equal(a.tokens[11], tokenizer_special(t, SPECIAL_USER));
    static const uint16_t expect_mask[23] = {0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0,
                                             0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0};
    assert_memory_equal(b.tokens, expect_mask, sizeof expect_mask);
    shard_free(&a);
    shard_free(&b);
    sft_stream_free(&s);
    chat_dataset_free(&d);
    tokenizer_free(t);
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    free(dir);
}

static void malformed_jsonl_lines_stop_with_file_and_line(void **state)
{
    (void)state;
    static const struct { const char *line; const char *expect; } BAD[] = {
        {"{\"messages\": [", "not valid JSON"},
        {"not json at all", "not valid JSON"},
        {"[1, 2]", "expected a JSON object"},
        {"{\"msgs\": []}", "missing \"messages\""},
        {"{\"messages\": []}", "non-empty array"},
        {"{\"messages\": {\"role\": \"user\"}}", "non-empty array"},
        {"{\"messages\": [\"hello\"]}", "messages[0] is not an object"},
        {"{\"messages\": [{\"content\": \"x\"}]}", "messages[0].role is missing"},
        {"{\"messages\": [{\"role\": 3, \"content\": \"x\"}]}", "messages[0].role is not a string"},
        {"{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}, {\"role\": \"bot\", \"content\": \"y\"}]}",
         "messages[1].role \"bot\" is not one of system, user, assistant"},
        {"{\"messages\": [{\"role\": \"user\", \"content\": 5}]}", "messages[0].content is not a string"},
        {"{\"messages\": [{\"role\": \"user\"}]}", "messages[0].content is missing"},
        {"{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}]} trailing", "unexpected text after the JSON object"},
    };
    char *dir = temp_dir(), path[4200];
    snprintf(path, sizeof path, "%s/bad.jsonl", dir);
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        char text[1024], want[4400];
        snprintf(text, sizeof text, "{\"messages\":[{\"role\":\"user\",\"content\":\"ok\"}]}\n\n%s\n", BAD[i].line);
        write_text(path, text);
        ChatDataset d;
        Err e = {{0}};
        assert_int_equal(chat_read_jsonl(&d, path, &e), -1);
        snprintf(want, sizeof want, "%s:3: ", path);
        if (strncmp(e.msg, want, strlen(want)) != 0 || !strstr(e.msg, BAD[i].expect))
            fail_msg("case %zu: got '%s', expected '%s%s'", i, e.msg, want, BAD[i].expect);
        assert_int_equal(d.n, 0);
    }
    /* a missing file names the file */
    ChatDataset d;
    Err e;
    snprintf(path, sizeof path, "%s/none.jsonl", dir);
    assert_int_equal(chat_read_jsonl(&d, path, &e), -1);
    assert_non_null(strstr(e.msg, "none.jsonl"));
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(two_turn_mask_covers_exactly_the_assistant_spans_and_end_tokens),
        cmocka_unit_test(system_message_and_generation_prompt_follow_the_template),
        cmocka_unit_test(long_conversations_are_cut_from_the_end_or_dropped),
        cmocka_unit_test(rows_hold_whole_conversations_padded_with_end_tokens),
        cmocka_unit_test(jsonl_packs_into_token_and_mask_shards_of_one_layout),
        cmocka_unit_test(malformed_jsonl_lines_stop_with_file_and_line),
        cmocka_unit_test(spaced_replies_get_exactly_one_leading_space),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
