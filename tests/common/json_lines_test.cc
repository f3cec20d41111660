#include "common/json_lines.h"

#include <gtest/gtest.h>

namespace rtplatch {
namespace {

TEST(LineBufferTest, SplitsLinesAcrossChunks) {
  LineBuffer b;
  b.Append("{\"a\":1}\n{\"b\"");
  EXPECT_EQ(b.NextLine(), "{\"a\":1}");
  EXPECT_EQ(b.NextLine(), std::nullopt);
  b.Append(":2}\r\n");
  EXPECT_EQ(b.NextLine(), "{\"b\":2}");
  EXPECT_EQ(b.NextLine(), std::nullopt);
}

TEST(LineBufferTest, FlagsAnUnterminatedLineOverTheCap) {
  LineBuffer b(16);
  b.Append(std::string(16, 'x'));
  EXPECT_FALSE(b.overflowed());
  b.Append("y");
  EXPECT_EQ(b.NextLine(), std::nullopt);
  EXPECT_TRUE(b.overflowed());
}

}  // namespace
}  // namespace rtplatch
