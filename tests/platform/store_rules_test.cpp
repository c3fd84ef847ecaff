// The rules every store backend and every way of setting a price share (store_rules.h).
#include "platform/store_rules.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>

namespace gengyun::platform {
namespace {

TEST(ValidatePrice, RefusesNegativePricesAndACachedInputAboveTheInput) {
  EXPECT_TRUE(validate_price({150'000, 150'000, 600'000}).ok());
  EXPECT_TRUE(validate_price({150'000, 75'000, 600'000}).ok());
  EXPECT_TRUE(validate_price({0, 0, 0}).ok());
  for (const Price& negative : {Price{-1, 0, 0}, Price{0, -1, 0}, Price{0, 0, -1}}) {
    auto refused = validate_price(negative);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().message, "prices must be >= 0");
  }
  auto above = validate_price({150'000, 150'001, 600'000});
  ASSERT_FALSE(above.ok());
  EXPECT_EQ(above.error().message,
            "the cached input price (0.150001) is above the input price (0.15) (USD per 1M "
            "tokens); a cached prompt token costs at most an input token");
}

LedgerWrite write_of(LedgerWrite::Kind kind) {
  LedgerWrite write{kind};
  write.row.request_id = "r";
  return write;
}

// Checkpoints alone go without a sync for less than kCheckpointSyncBoundUs after the last
// synced batch; a settlement or a record in the batch, or a sync that old, makes it sync.
TEST(MustSync, OnlyCheckpointsWithinTheBoundSkipTheSync) {
  const LedgerWrite checkpoint = write_of(LedgerWrite::Kind::Checkpoint);
  const LedgerWrite settle = write_of(LedgerWrite::Kind::Settle);
  const LedgerWrite record = write_of(LedgerWrite::Kind::Record);
  const int64_t last = 5'000'000;
  EXPECT_FALSE(must_sync({checkpoint}, last, last));
  EXPECT_FALSE(must_sync({checkpoint, checkpoint}, last + kCheckpointSyncBoundUs - 1, last));
  EXPECT_TRUE(must_sync({checkpoint}, last + kCheckpointSyncBoundUs, last));
  EXPECT_TRUE(must_sync({checkpoint, settle}, last + 1, last));
  EXPECT_TRUE(must_sync({record, checkpoint}, last + 1, last));
  EXPECT_TRUE(must_sync({settle}, last, last));
  EXPECT_FALSE(must_sync({}, last + 1, last));
  // The stores' first batch: their last sync starts long ago.
  EXPECT_TRUE(must_sync({checkpoint}, 0, std::numeric_limits<int64_t>::min() / 2));
}

}  // namespace
}  // namespace gengyun::platform
