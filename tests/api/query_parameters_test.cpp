// query_parameters(): the query string of a request-target, decoded and checked against the
// names an endpoint takes.
#include "api/query_parameters.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace gengyun::api {
namespace {

using Values = std::map<std::string, std::string>;

TEST(QueryParameters, DecodesEachPairByName) {
  auto values = query_parameters("/admin/keys?limit=%32&after=7&&note=a+b%2Bc&flag",
                                 {"limit", "after", "note", "flag"});
  ASSERT_TRUE(values.ok()) << values.error().message;
  EXPECT_EQ(*values, (Values{{"after", "7"}, {"flag", ""}, {"limit", "2"}, {"note", "a b+c"}}));
  for (const char* target : {"/admin/keys", "/admin/keys?", "/admin/keys?&"}) {
    auto none = query_parameters(target, {"limit"});
    ASSERT_TRUE(none.ok()) << target;
    EXPECT_TRUE(none->empty()) << target;
  }
}

TEST(QueryParameters, RefusesUnknownRepeatedAndMalformedParameters) {
  struct Case {
    const char* target;
    const char* param;
    const char* message;
  };
  const Case cases[] = {
      {"/x?limit=1&order=asc", "order",
       "unknown parameter 'order' (the parameters are limit, after)"},
      {"/x?Limit=1", "Limit", "unknown parameter 'Limit' (the parameters are limit, after)"},
      {"/x?limit=1&limit=1", "limit", "the parameter 'limit' is given twice"},
      {"/x?lim%69t=1&limit=2", "limit", "the parameter 'limit' is given twice"},
      {"/x?limit=%zz", "", "the query string has a malformed %-escape"},
      {"/x?%4=1", "", "the query string has a malformed %-escape"},
  };
  for (const Case& c : cases) {
    auto values = query_parameters(c.target, {"limit", "after"});
    ASSERT_FALSE(values.ok()) << c.target;
    EXPECT_EQ(values.error().http_status, 400) << c.target;
    EXPECT_EQ(values.error().param, c.param) << c.target;
    EXPECT_EQ(values.error().message, c.message) << c.target;
  }
}

}  // namespace
}  // namespace gengyun::api
