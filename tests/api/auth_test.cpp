// The Authorization header's forms.
#include "api/auth.h"

#include <gtest/gtest.h>

namespace gengyun::api {
namespace {

TEST(BearerSecret, AcceptedForms) {
  EXPECT_EQ(bearer_secret("Bearer gy-abc"), "gy-abc");
  EXPECT_EQ(bearer_secret("bearer gy-abc"), "gy-abc");
  EXPECT_EQ(bearer_secret("BEARER   gy-abc  "), "gy-abc");
  EXPECT_EQ(bearer_secret(" Bearer\tgy-abc"), "gy-abc");
}

TEST(BearerSecret, RejectedForms) {
  for (const char* header : {"", "Bearer", "Bearer ", "Bearer    ", "Basic dXNlcjpwYXNz",
                             "Bearergy-abc", "gy-abc", "Bearer a b", "Token gy-abc"})
    EXPECT_FALSE(bearer_secret(header).has_value()) << "'" << header << "'";
}

}  // namespace
}  // namespace gengyun::api
