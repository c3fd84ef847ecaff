#include "platform/reconciler.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "platform/store.h"
#include "temp_dir.h"

namespace gengyun::platform {
namespace {

using testing::TempDir;

// A server that dies with a row open: another live server's reconciler closes it on its next
// pass, without a restart.
TEST(Reconciler, ALiveServerClosesTheRowsOfOneThatIsGone) {
  TempDir dir;
  auto live = Store::open(dir.file("platform.db"));
  auto gone = Store::open(dir.file("platform.db"));
  ASSERT_TRUE(live.ok() && gone.ok());
  ASSERT_TRUE((*live)->start_server().ok());
  ASSERT_TRUE((*gone)->start_server().ok());
  auto secret = (*gone)->create_key("a");
  ASSERT_TRUE(secret.ok());
  auto who = (*gone)->authenticate(*secret);
  ASSERT_TRUE(who.ok() && who->has_value());
  const int64_t key = (*who)->id;
  auto admitted =
      (*gone)->admit({"r1", key, "qwen", "/v1/completions", 5, 5, 1'700'000'000'000'000});
  ASSERT_TRUE(admitted.ok() && admitted->outcome == Admission::Outcome::Admitted);

  std::mutex mutex;
  std::condition_variable changed;
  int64_t closed_total = 0;
  int passes = 0;
  {
    Reconciler reconciler(**live, std::chrono::milliseconds(1), [&](const Result<int64_t>& r) {
      std::lock_guard lock(mutex);
      ++passes;
      if (r.ok()) closed_total += r.value();
      changed.notify_all();
    });
    {
      // While the other server lives, passes close nothing.
      std::unique_lock lock(mutex);
      ASSERT_TRUE(changed.wait_for(lock, std::chrono::seconds(30), [&] { return passes >= 2; }));
      EXPECT_EQ(closed_total, 0);
    }
    gone.value().reset();
    std::unique_lock lock(mutex);
    ASSERT_TRUE(
        changed.wait_for(lock, std::chrono::seconds(30), [&] { return closed_total >= 1; }));
  }
  EXPECT_EQ(closed_total, 1);
  auto rows = (*live)->usage_rows();
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(rows->front().status, "interrupted");
}

}  // namespace
}  // namespace gengyun::platform
