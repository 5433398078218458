/*
 * tok_hf_test.c — tokenizer.json features beyond the files shipped in
 * shared/models: pre-tokenizers (Digits, Split with every behavior and
 * invert, ByteLevel add_prefix_space, Whitespace, WhitespaceSplit,
 * BertPreTokenizer, Punctuation, Metaspace with its prepend schemes and
 * split), normalizers (NFKC, NFD, Lowercase, Strip, StripAccents, Replace
 * literal and regex), added tokens (lstrip, rstrip, single_word,
 * normalized, special), TemplateProcessing with BOS and EOS, merges as
 * ["a", "b"] pairs, BPE without byte fallback (fused unk).
 *
 * Each variant edits synth/qwen2-bpe-hf/tokenizer.json (GPT-2 byte-level)
 * or synth/llama-spm-hf/tokenizer.json (Llama-2 SentencePiece BPE): top-level
 * sections are replaced, "model" keys merged, "added_tokens_extra" appended,
 * "merges_as_pairs" rewrites the merges.  The expected ids were produced by
 * Hugging Face's Rust tokenizers library (npm `tokenizers` 0.23.2,
 * encode(s, addSpecialTokens=true)) on the same edited files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/testutil.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tok_load.h"

/* {"strings": [...], "variants": [{"name", "base"?, "patch", "ids": [[...] per string]}]} */
static const char VARIANTS[] =
    "{\"strings\":[\"Hello world\",\"  two  spaces \",\"abc123def 4567 89\",\"QWXZ zcatz zcatzalo"
    "g [X] x<r>  y zcatz_ DOG\",\"H\\u00e9llo W\\u00f6rld \\uff21\\uff22\\uff23 \\ufb01 e\\u0301"
    "\",\"a\\tb\\nc\\r\\n d\",\"\",\"<|endoftext|>hi <|endoftext|>\",\"Hi! How're you?? ...ok\","
    "\"x  [X]  y\"],\"variants\":[{\"name\":\"digits\",\"patch\":{\"pre_tokenizer\":{\"type\":\"S"
    "equence\",\"pretokenizers\":[{\"type\":\"Digits\",\"individual_digits\":true},{\"type\":\"By"
    "teLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":true}]}},\"ids\":[["
    "15496,995],[220,734,220,9029,220],[39305,16,17,18,4299,220,19,20,21,22,220,23,24],[48,54,55,"
    "57,1976,9246,89,1976,9246,89,11794,685,55,60,2124,27,81,29,220,331,1976,9246,89,62,360,7730]"
    ",[39,2634,18798,370,30570,335,27332,120,94,171,120,95,171,120,96,27332,105,223,304,136,223],"
    "[64,197,65,198,66,201,198,288],[],[50256,5303,220,50256],[17250,0,1374,821,345,3548,2644,482"
    "],[87,220,685,55,60,220,331]]},{\"name\":\"digits-contiguous\",\"patch\":{\"pre_tokenizer\":"
    "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Digits\",\"individual_digits\":false},"
    "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":false"
    "}]}},\"ids\":[[15496,995],[220,734,220,9029,220],[39305,10163,4299,220,2231,3134,220,4531],["
    "48,54,55,57,1976,9246,89,1976,9246,89,11794,685,55,60,2124,27,81,29,220,331,1976,9246,89,62,"
    "360,7730],[39,2634,18798,370,30570,335,27332,120,94,171,120,95,171,120,96,27332,105,223,304,"
    "136,223],[64,197,65,198,66,201,198,288],[],[50256,5303,220,50256],[17250,0,1374,821,345,3548"
    ",2644,482],[87,220,685,55,60,220,331]]},{\"name\":\"merged-prev\",\"patch\":{\"pre_tokenizer"
    "\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"String\":\" "
    "\"},\"behavior\":\"MergedWithPrevious\",\"invert\":false},{\"type\":\"ByteLevel\",\"add_pref"
    "ix_space\":false,\"trim_offsets\":true,\"use_regex\":false}]}},\"ids\":[[15496,220,6894],[22"
    "0,220,11545,220,220,2777,2114,220],[39305,10163,4299,220,2231,3134,220,4531],[48,54,55,57,22"
    "0,89,9246,89,220,89,9246,89,11794,220,58,55,60,220,87,27,81,29,220,220,88,220,89,9246,89,62,"
    "220,35,7730],[39,2634,18798,220,54,30570,335,220,171,120,94,171,120,95,171,120,96,220,171,10"
    "5,223,220,68,136,223],[64,197,65,198,66,201,198,220,67],[],[50256,5303,220,50256],[17250,0,2"
    "20,2437,821,220,5832,3548,220,986,482],[87,220,220,58,55,60,220,220,88]]},{\"name\":\"merged"
    "-next\",\"patch\":{\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"S"
    "plit\",\"pattern\":{\"Regex\":\"\\\\s+\"},\"behavior\":\"MergedWithNext\",\"invert\":false},"
    "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":false"
    "}]}},\"ids\":[[15496,995],[220,734,220,9029,220],[39305,10163,4299,4153,3134,9919],[48,54,55"
    ",57,1976,9246,89,1976,9246,89,11794,685,55,60,2124,27,81,29,220,331,1976,9246,89,62,360,7730"
    "],[39,2634,18798,370,30570,335,27332,120,94,171,120,95,171,120,96,27332,105,223,304,136,223]"
    ",[64,197,65,198,66,201,198,288],[],[50256,5303,220,50256],[17250,0,1374,821,345,3548,2644,48"
    "2],[87,220,685,55,60,220,331]]},{\"name\":\"contiguous\",\"patch\":{\"pre_tokenizer\":{\"typ"
    "e\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\p{L}\"}"
    ",\"behavior\":\"Contiguous\",\"invert\":false},{\"type\":\"ByteLevel\",\"add_prefix_space\":"
    "false,\"trim_offsets\":true,\"use_regex\":false}]}},\"ids\":[[15496,220,6894],[220,220,11545"
    ",220,220,2777,2114,220],[39305,10163,4299,4153,3134,9919],[48,54,55,57,220,89,9246,89,220,89"
    ",9246,89,11794,685,55,60,220,87,27,81,29,220,220,88,220,89,9246,89,62,220,35,7730],[39,2634,"
    "18798,220,54,30570,335,220,171,120,94,171,120,95,171,120,96,220,171,105,223,220,68,136,223],"
    "[64,197,65,198,66,201,198,220,67],[],[50256,5303,220,50256],[17250,0,220,2437,6,260,220,5832"
    ",3548,2644,482],[87,220,685,55,60,220,220,88]]},{\"name\":\"removed-invert\",\"patch\":{\"pr"
    "e_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"R"
    "egex\":\"\\\\w+\"},\"behavior\":\"Removed\",\"invert\":true},{\"type\":\"ByteLevel\",\"add_p"
    "refix_space\":false,\"trim_offsets\":true,\"use_regex\":false}]}},\"ids\":[[15496,6894],[115"
    "45,2777,2114],[39305,10163,4299,2231,3134,4531],[48,54,55,57,89,9246,89,89,9246,89,11794,55,"
    "87,81,88,89,9246,89,62,35,7730],[39,2634,18798,54,30570,335,171,120,94,171,120,95,171,120,96"
    ",171,105,223,68,136,223],[64,65,66,67],[],[50256,5303,50256],[17250,2437,260,5832,482],[87,5"
    "5,88]]},{\"name\":\"prefix-space\",\"patch\":{\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"ad"
    "d_prefix_space\":true,\"trim_offsets\":true,\"use_regex\":true}},\"ids\":[[18435,995],[220,7"
    "34,220,9029,220],[450,66,10163,4299,4153,3134,9919],[1195,54,55,57,1976,9246,89,1976,9246,89"
    ",11794,685,55,60,2124,27,81,29,220,331,1976,9246,89,62,360,7730],[367,2634,18798,370,30570,3"
    "35,27332,120,94,171,120,95,171,120,96,27332,105,223,304,136,223],[257,197,65,198,66,201,198,"
    "288],[],[50256,23105,220,50256],[15902,0,1374,821,345,3548,2644,482],[2124,220,685,55,60,220"
    ",331]]},{\"name\":\"whitespace\",\"patch\":{\"pre_tokenizer\":{\"type\":\"Sequence\",\"preto"
    "kenizers\":[{\"type\":\"Whitespace\"},{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"t"
    "rim_offsets\":true,\"use_regex\":false}]}},\"ids\":[[15496,6894],[11545,2777,2114],[39305,10"
    "163,4299,2231,3134,4531],[48,54,55,57,89,9246,89,89,9246,89,11794,58,55,60,87,27,81,29,88,89"
    ",9246,89,62,35,7730],[39,2634,18798,54,30570,335,171,120,94,171,120,95,171,120,96,171,105,22"
    "3,68,136,223],[64,65,66,67],[],[50256,5303,50256],[17250,0,2437,6,260,5832,3548,986,482],[87"
    ",58,55,60,88]]},{\"name\":\"whitespace-split\",\"patch\":{\"pre_tokenizer\":{\"type\":\"Sequ"
    "ence\",\"pretokenizers\":[{\"type\":\"WhitespaceSplit\"},{\"type\":\"ByteLevel\",\"add_prefi"
    "x_space\":false,\"trim_offsets\":true,\"use_regex\":false}]}},\"ids\":[[15496,6894],[11545,2"
    "777,2114],[39305,10163,4299,2231,3134,4531],[48,54,55,57,89,9246,89,89,9246,89,11794,58,55,6"
    "0,87,27,81,29,88,89,9246,89,62,35,7730],[39,2634,18798,54,30570,335,171,120,94,171,120,95,17"
    "1,120,96,171,105,223,68,136,223],[64,65,66,67],[],[50256,5303,50256],[17250,0,2437,821,5832,"
    "3548,986,482],[87,58,55,60,88]]},{\"name\":\"bert-punct\",\"patch\":{\"pre_tokenizer\":{\"ty"
    "pe\":\"Sequence\",\"pretokenizers\":[{\"type\":\"BertPreTokenizer\"},{\"type\":\"ByteLevel\""
    ",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":false}]}},\"ids\":[[15496,68"
    "94],[11545,2777,2114],[39305,10163,4299,2231,3134,4531],[48,54,55,57,89,9246,89,89,9246,89,1"
    "1794,58,55,60,87,27,81,29,88,89,9246,89,62,35,7730],[39,2634,18798,54,30570,335,171,120,94,1"
    "71,120,95,171,120,96,171,105,223,68,136,223],[64,65,66,67],[],[50256,5303,50256],[17250,0,24"
    "37,6,260,5832,30,30,13,13,13,482],[87,58,55,60,88]]},{\"name\":\"punct-merged\",\"patch\":{"
    "\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Punctuation\",\"beha"
    "vior\":\"MergedWithPrevious\"},{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_off"
    "sets\":true,\"use_regex\":true}]}},\"ids\":[[15496,995],[220,734,220,9029,220],[39305,10163,"
    "4299,4153,3134,9919],[48,54,55,57,1976,9246,89,1976,9246,89,11794,685,55,60,2124,27,81,29,22"
    "0,331,1976,9246,89,62,360,7730],[39,2634,18798,370,30570,335,27332,120,94,171,120,95,171,120"
    ",96,27332,105,223,304,136,223],[64,197,65,198,66,201,198,288],[],[50256,5303,220,50256],[172"
    "50,0,1374,6,260,345,30,30,764,13,13,482],[87,220,685,55,60,220,331]]},{\"name\":\"normalizer"
    "s\",\"patch\":{\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFKC\"},{"
    "\"type\":\"Lowercase\"},{\"type\":\"Strip\",\"strip_left\":true,\"strip_right\":true},{\"typ"
    "e\":\"Replace\",\"pattern\":{\"String\":\"o\"},\"content\":\"0\"},{\"type\":\"Replace\",\"pa"
    "ttern\":{\"Regex\":\"\\\\s+\"},\"content\":\" \"}]}},\"ids\":[[12758,15,266,15,81,335],[4246"
    ",15,9029],[39305,10163,4299,4153,3134,9919],[80,49345,89,1976,9246,89,1976,9246,89,282,15,70"
    ",685,87,60,2124,27,81,29,331,1976,9246,89,62,288,15,70],[71,2634,297,15,266,30570,335,450,66"
    ",25912,38251],[64,275,269,288],[],[50256,5303,50256],[5303,0,289,15,86,821,331,15,84,3548,26"
    "44,15,74],[87,685,87,60,331]]},{\"name\":\"nfd-strip-accents\",\"patch\":{\"normalizer\":{\""
    "type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFD\"},{\"type\":\"StripAccents\"}]}},\"ids"
    "\":[[15496,995],[220,734,220,9029,220],[39305,10163,4299,4153,3134,9919],[48,54,55,57,1976,9"
    "246,89,1976,9246,89,11794,685,55,60,2124,27,81,29,220,331,1976,9246,89,62,360,7730],[15496,2"
    "159,27332,120,94,171,120,95,171,120,96,27332,105,223,304],[64,197,65,198,66,201,198,288],[],"
    "[50256,5303,220,50256],[17250,0,1374,821,345,3548,2644,482],[87,220,685,55,60,220,331]]},{\""
    "name\":\"added\",\"patch\":{\"normalizer\":{\"type\":\"Lowercase\"},\"added_tokens_extra\":["
    "{\"id\":50257,\"content\":\"[X]\",\"single_word\":false,\"lstrip\":true,\"rstrip\":false,\"n"
    "ormalized\":false,\"special\":false},{\"id\":50258,\"content\":\"<r>\",\"single_word\":false"
    ",\"lstrip\":false,\"rstrip\":true,\"normalized\":false,\"special\":true},{\"id\":50259,\"con"
    "tent\":\"zcatz\",\"single_word\":true,\"lstrip\":false,\"rstrip\":false,\"normalized\":false"
    ",\"special\":false},{\"id\":50260,\"content\":\"qwxz\",\"single_word\":false,\"lstrip\":fals"
    "e,\"rstrip\":false,\"normalized\":true,\"special\":false}]},\"ids\":[[31373,995],[220,734,22"
    "0,9029,220],[39305,10163,4299,4153,3134,9919],[50260,220,50259,1976,9246,89,11794,50257,2124"
    ",50258,88,1976,9246,89,62,3290],[71,2634,18798,266,30570,335,27332,121,223,171,121,224,171,1"
    "21,225,27332,105,223,304,136,223],[64,197,65,198,66,201,198,288],[],[50256,5303,220,50256],["
    "5303,0,703,821,345,3548,2644,482],[87,50257,220,331]]},{\"name\":\"metaspace-g\",\"patch\":{"
    "\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"\\u0120\",\"prepend_scheme\":\"f"
    "irst\",\"split\":true}},\"ids\":[[18435,995],[220,734,220,9029,220],[450,66,10163,4299,4153,"
    "3134,9919],[1195,54,55,57,1976,9246,89,1976,9246,89,11794,685,55,60,2124,27,81,29,220,331,19"
    "76,9246,89,62,360,7730],[367,165,18798,370,178,81,335,220,220,304],[450,66,288],[],[50256,53"
    "03,220,50256],[15902,0,1374,821,345,3548,2644,482],[2124,220,685,55,60,220,331]]},{\"name\":"
    "\"metaspace-always-nosplit\",\"patch\":{\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacem"
    "ent\":\"\\u0120\",\"prepend_scheme\":\"always\",\"split\":false}},\"ids\":[[18435,995],[220,"
    "734,220,9029,220],[450,66,10163,4299,4153,3134,9919],[1195,54,55,57,1976,9246,89,1976,9246,8"
    "9,11794,685,55,60,2124,27,81,29,220,331,1976,9246,89,62,360,7730],[367,165,18798,370,178,81,"
    "335,220,220,304],[450,66,288],[],[50256,23105,220,50256],[15902,0,1374,821,345,3548,2644,482"
    "],[2124,220,685,55,60,220,331]]},{\"name\":\"template-bos-eos\",\"patch\":{\"post_processor"
    "\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<|endoftext|>\","
    "\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},{\"SpecialToken\":{\"id\":\"<|en"
    "doftext|>\",\"type_id\":0}}],\"pair\":[],\"special_tokens\":{\"<|endoftext|>\":{\"id\":\"<|e"
    "ndoftext|>\",\"ids\":[50256],\"tokens\":[\"<|endoftext|>\"]}}}},\"ids\":[[50256,15496,995,50"
    "256],[50256,220,734,220,9029,220,50256],[50256,39305,10163,4299,4153,3134,9919,50256],[50256"
    ",48,54,55,57,1976,9246,89,1976,9246,89,11794,685,55,60,2124,27,81,29,220,331,1976,9246,89,62"
    ",360,7730,50256],[50256,39,2634,18798,370,30570,335,27332,120,94,171,120,95,171,120,96,27332"
    ",105,223,304,136,223,50256],[50256,64,197,65,198,66,201,198,288,50256],[50256,50256],[50256,"
    "50256,5303,220,50256,50256],[50256,17250,0,1374,821,345,3548,2644,482,50256],[50256,87,220,6"
    "85,55,60,220,331,50256]]},{\"name\":\"merges-pairs\",\"patch\":{\"merges_as_pairs\":true},\""
    "ids\":[[15496,995],[220,734,220,9029,220],[39305,10163,4299,4153,3134,9919],[48,54,55,57,197"
    "6,9246,89,1976,9246,89,11794,685,55,60,2124,27,81,29,220,331,1976,9246,89,62,360,7730],[39,2"
    "634,18798,370,30570,335,27332,120,94,171,120,95,171,120,96,27332,105,223,304,136,223],[64,19"
    "7,65,198,66,201,198,288],[],[50256,5303,220,50256],[17250,0,1374,821,345,3548,2644,482],[87,"
    "220,685,55,60,220,331]]},{\"name\":\"llama-metaspace\",\"base\":\"llama\",\"patch\":{\"norma"
    "lizer\":null,\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"\\u2581\",\"prepend"
    "_scheme\":\"first\",\"split\":false}},\"ids\":[[1,15043,3186],[1,29871,1023,29871,8162,29871"
    "],[1,25638,29896,29906,29941,1753,29871,29946,29945,29953,29955,29871,29947,29929],[1,660,29"
    "956,29990,29999,503,29883,4101,503,29883,4101,27330,518,29990,29962,921,29966,29878,29958,29"
    "871,343,503,29883,4101,29918,11662,29954],[1,379,3610,417,399,1340,430,29871,242,191,164,242"
    ",191,165,242,191,166,29871,31017,321,30103],[1,263,12,29890,13,29883,30004,13,270],[1],[1,52"
    "9,29989,355,974,726,29989,29958,2918,529,29989,355,974,726,29989,29958],[1,6324,29991,1128,2"
    "9915,276,366,8773,2023,554],[1,921,29871,518,29990,29962,29871,343]]},{\"name\":\"llama-meta"
    "space-split\",\"base\":\"llama\",\"patch\":{\"normalizer\":null,\"pre_tokenizer\":{\"type\":"
    "\"Metaspace\",\"replacement\":\"\\u2581\",\"prepend_scheme\":\"always\",\"split\":true}},\"i"
    "ds\":[[1,15043,3186],[1,29871,1023,29871,8162,29871],[1,25638,29896,29906,29941,1753,29871,2"
    "9946,29945,29953,29955,29871,29947,29929],[1,660,29956,29990,29999,503,29883,4101,503,29883,"
    "4101,27330,518,29990,29962,921,29966,29878,29958,29871,343,503,29883,4101,29918,11662,29954]"
    ",[1,379,3610,417,399,1340,430,29871,242,191,164,242,191,165,242,191,166,29871,31017,321,3010"
    "3],[1,263,12,29890,13,29883,30004,13,270],[1],[1,529,29989,355,974,726,29989,29958,2918,529,"
    "29989,355,974,726,29989,29958],[1,6324,29991,1128,29915,276,366,8773,2023,554],[1,921,29871,"
    "518,29990,29962,29871,343]]},{\"name\":\"llama-nofallback\",\"base\":\"llama\",\"patch\":{\""
    "model\":{\"byte_fallback\":false,\"fuse_unk\":true}},\"ids\":[[1,15043,3186],[1,259,1023,298"
    "71,8162,29871],[1,25638,29896,29906,29941,1753,29871,29946,29945,29953,29955,29871,29947,299"
    "29],[1,660,29956,29990,29999,503,29883,4101,503,29883,4101,27330,518,29990,29962,921,29966,2"
    "9878,29958,29871,343,503,29883,4101,29918,11662,29954],[1,379,3610,417,399,1340,430,29871,0,"
    "29871,31017,321,30103],[1,263,0,29890,0,29883,30004,0,270],[1],[1,529,29989,355,974,726,2998"
    "9,29958,2918,529,29989,355,974,726,29989,29958],[1,6324,29991,1128,29915,276,366,8773,2023,5"
    "54],[1,921,29871,518,29990,29962,29871,343]]}]}";

static json_t *g_variants;

static json_t *load_base(const char *base) {
    char *p = tu_model_path(strcmp(base, "llama") == 0 ? "synth/llama-spm-hf/tokenizer.json"
                                                        : "synth/qwen2-bpe-hf/tokenizer.json");
    json_error_t je;
    json_t *j = json_load_file(p, 0, &je);
    if (!j) print_error("%s: %s\n", p, je.text);
    free(p);
    return j;
}

static void apply_patch(json_t *j, const json_t *patch) {
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)patch, k, v) {
        if (strcmp(k, "model") == 0) {
            json_object_update(json_object_get(j, "model"), v);
        } else if (strcmp(k, "added_tokens_extra") == 0) {
            json_array_extend(json_object_get(j, "added_tokens"), v);
        } else if (strcmp(k, "merges_as_pairs") == 0) {
            json_t *merges = json_object_get(json_object_get(j, "model"), "merges"), *m;
            size_t i;
            json_array_foreach(merges, i, m) {
                const char *s = json_string_value(m), *sp = strchr(s, ' ');
                json_t *pair = json_pack("[s#s]", s, (int)(sp - s), sp + 1);
                json_array_set_new(merges, i, pair);
            }
        } else {
            json_object_set(j, k, v);
        }
    }
}

static void run_variant(void **state) {
    size_t idx = (size_t)(uintptr_t)*state;
    const json_t *var = json_array_get(json_object_get(g_variants, "variants"), idx);
    const json_t *strings = json_object_get(g_variants, "strings");
    const char *name = json_string_value(json_object_get(var, "name"));
    const char *base = json_string_value(json_object_get(var, "base"));
    json_t *j = load_base(base ? base : "gpt2");
    assert_non_null(j);
    apply_patch(j, json_object_get(var, "patch"));
    char *dir = tu_mkdtemp(), path[512], err[CT_ERRLEN];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    assert_int_equal(json_dump_file(j, path, JSON_COMPACT), 0);
    json_decref(j);
    tokenizer *t = tok_load_hf(path, err);
    tu_rmrf(dir);
    free(dir);
    if (!t) fail_msg("%s: %s", name, err);
    const json_t *want_all = json_object_get(var, "ids");
    size_t bad = 0, i;
    const json_t *s;
    json_array_foreach(strings, i, s) {
        const json_t *want = json_array_get(want_all, i);
        int32_t *ids = NULL;
        int n = tok_encode(t, json_string_value(s), json_string_length(s), true, true, &ids, err);
        bool same = n >= 0 && (size_t)n == json_array_size(want);
        for (int k = 0; same && k < n; k++) same = ids[k] == json_integer_value(json_array_get(want, (size_t)k));
        if (!same) {
            bad++;
            char *w = json_dumps(want, JSON_COMPACT);
            print_error("%s: string %zu %s: want %s, got", name, i, json_dumps(s, JSON_ENCODE_ANY), w);
            for (int k = 0; k < n; k++) print_error(" %d", ids[k]);
            print_error("\n");
            free(w);
        }
        free(ids);
    }
    tok_free(t);
    if (bad) fail_msg("%s: %zu strings differ", name, bad);
}

int main(void) {
    json_error_t je;
    g_variants = json_loads(VARIANTS, 0, &je);
    if (!g_variants) {
        fprintf(stderr, "VARIANTS: %s\n", je.text);
        return 1;
    }
    const json_t *vars = json_object_get(g_variants, "variants");
    size_t n = json_array_size(vars);
    struct CMUnitTest *tests = calloc(n, sizeof *tests);
    char (*names)[96] = calloc(n, sizeof *names);
    for (size_t i = 0; i < n; i++) {
        snprintf(names[i], sizeof names[i], "tokenizer.json %s",
                 json_string_value(json_object_get(json_array_get(vars, i), "name")));
        tests[i] = (struct CMUnitTest){names[i], run_variant, NULL, NULL, (void *)(uintptr_t)i};
    }
    int rc = _cmocka_run_group_tests("tok_hf", tests, n, NULL, NULL);
    free(tests);
    free(names);
    json_decref(g_variants);
    return rc;
}
