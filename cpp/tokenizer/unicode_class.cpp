#include "tokenizer/unicode_class.h"

#include "unicode_class_table.h"  // generated: kCharClassBlock, kCharClassRow

namespace gptcore {

static_assert(sizeof(kCharClassBlock) / sizeof(kCharClassBlock[0]) == 0x110000 / 256, "one row per 256 code points");

const uint16_t* const char_class_block = kCharClassBlock;
const uint8_t* const char_class_row = kCharClassRow;

}  // namespace gptcore
