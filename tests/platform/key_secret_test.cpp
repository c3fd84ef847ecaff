#include "platform/key_secret.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace gengyun::platform {
namespace {

bool is_base62(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

TEST(KeySecret, HasMarkerAndBase62Body) {
  auto secret = generate_key_secret();
  ASSERT_TRUE(secret.ok()) << secret.error().message;
  ASSERT_EQ(secret->size(), 3u + 43u);
  EXPECT_EQ(secret->substr(0, 3), "gy-");
  for (char c : secret->substr(3)) EXPECT_TRUE(is_base62(c)) << "character '" << c << "'";
}

TEST(KeySecret, DrawsEveryCharacterAndNeverRepeats) {
  std::set<std::string> secrets;
  std::set<char> seen;
  for (int i = 0; i < 200; ++i) {
    auto secret = generate_key_secret();
    ASSERT_TRUE(secret.ok()) << secret.error().message;
    secrets.insert(*secret);
    for (char c : secret->substr(3)) seen.insert(c);
  }
  EXPECT_EQ(secrets.size(), 200u);
  // 8600 uniform draws over 62 characters leave none unseen except with probability ~1e-58.
  EXPECT_EQ(seen.size(), 62u);
}

}  // namespace
}  // namespace gengyun::platform
