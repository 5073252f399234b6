#include "engine/kv_cache/block_table.h"

#include <gtest/gtest.h>

namespace ovserve::engine {
namespace {

TEST(BlockTableTest, BlocksNeededTable) {
  struct Row {
    int64_t tokens;
    int block_size;
    int64_t blocks;
    int64_t full;
  };
  const Row rows[] = {
      {0, 16, 0, 0},  {1, 16, 1, 0},  {15, 16, 1, 0}, {16, 16, 1, 1},
      {17, 16, 2, 1}, {32, 16, 2, 2}, {33, 16, 3, 2}, {7, 1, 7, 7},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(testing::Message() << row.tokens << " tokens, block " << row.block_size);
    EXPECT_EQ(BlocksNeeded(row.tokens, row.block_size), row.blocks);
    EXPECT_EQ(FullBlocks(row.tokens, row.block_size), row.full);
  }
}

TEST(BlockTableTest, AdditionalBlocksAndSlots) {
  BlockTable table;
  EXPECT_EQ(table.AdditionalBlocksNeeded(0, 4), 0);
  EXPECT_EQ(table.AdditionalBlocksNeeded(5, 4), 2);
  table.block_ids = {7, 2};
  table.num_tokens = 5;
  EXPECT_EQ(table.AdditionalBlocksNeeded(8, 4), 0);
  EXPECT_EQ(table.AdditionalBlocksNeeded(9, 4), 1);
  EXPECT_EQ(table.AdditionalBlocksNeeded(3, 4), 0);
  EXPECT_EQ(table.SlotOf(0, 4), 28);
  EXPECT_EQ(table.SlotOf(3, 4), 31);
  EXPECT_EQ(table.SlotOf(4, 4), 8);
  EXPECT_EQ(table.SlotOf(7, 4), 11);
}

}  // namespace
}  // namespace ovserve::engine
