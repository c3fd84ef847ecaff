#include "deploy/yaml_scalar.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

namespace gengyun::deploy {
namespace {

using Kind = PlainScalar::Kind;

// Each form of YAML 1.2's core schema and of YAML 1.1 as PyYAML resolves it, with the value
// PyYAML 6 (yaml.safe_load) or the 1.2 spec gives it (0_7 and +0_10 are octal in YAML 1.1).
TEST(PlainScalar, ReadsNumbersOfEitherYamlVersion) {
  const std::pair<const char*, double> numbers[] = {
      {"5", 5},
      {"+5", 5},
      {"-5", -5},
      {"0", 0},
      {"-0", 0},
      {"007", 7},
      {"08", 8},
      {"0o17", 15},
      {"0x10", 16},
      {"0x1F", 31},
      {"+0x10", 16},
      {"-0x10", -16},
      {"0x_1_0", 16},
      {"0b101", 5},
      {"-0b1_1", -3},
      {"1_000", 1000},
      {"0_7", 7},
      {"+0_10", 8},
      {"0777", 0},
      {"1:30", 90},
      {"-1:00:05", -3605},
      {"1.5", 1.5},
      {"1.", 1},
      {".5", 0.5},
      {"-.5", -0.5},
      {"1e3", 1000},
      {"1.0e+3", 1000},
      {"-2E-1", -0.2},
      {"1_000.5", 1000.5},
      {"1:30.5", 90.5},
      {"1e400", HUGE_VAL},
  };
  for (const auto& [text, value] : numbers) {
    const PlainScalar x = read_plain_scalar(text);
    if (std::string(text) == "0777") {
      EXPECT_EQ(x.kind, Kind::Conflicting) << text;  // 511 in YAML 1.1, 777 in YAML 1.2
      continue;
    }
    EXPECT_TRUE(x.is_number()) << text;
    EXPECT_EQ(x.number, value) << text;
  }
  for (const char* text : {".inf", "+.Inf", ".INF"})
    EXPECT_EQ(read_plain_scalar(text).number, std::numeric_limits<double>::infinity()) << text;
  for (const char* text : {"-.inf", "-.INF"})
    EXPECT_EQ(read_plain_scalar(text).number, -std::numeric_limits<double>::infinity()) << text;
  for (const char* text : {".nan", ".NaN", ".NAN"}) {
    EXPECT_EQ(read_plain_scalar(text).kind, Kind::Float) << text;
    EXPECT_TRUE(std::isnan(read_plain_scalar(text).number)) << text;
  }
}

TEST(PlainScalar, IntegersAndFloatsAreTold) {
  for (const char* text : {"5", "0x10", "0o17", "1_000", "0b1", "1:30", "-0"})
    EXPECT_EQ(read_plain_scalar(text).kind, Kind::Integer) << text;
  for (const char* text : {"5.0", "1e3", "1:30.5", ".inf", ".nan"})
    EXPECT_EQ(read_plain_scalar(text).kind, Kind::Float) << text;
  EXPECT_EQ(read_plain_scalar("9223372036854775807").int64, INT64_MAX);
  EXPECT_EQ(read_plain_scalar("-9223372036854775808").int64, INT64_MIN);
  EXPECT_EQ(read_plain_scalar("9223372036854775808").int64, std::nullopt);
  EXPECT_EQ(read_plain_scalar("18446744073709551615").uint64, UINT64_MAX);
  EXPECT_EQ(read_plain_scalar("0xffffffffffffffff").uint64, UINT64_MAX);
  EXPECT_EQ(read_plain_scalar("18446744073709551616").uint64, std::nullopt);
  EXPECT_EQ(read_plain_scalar("18446744073709551616").number, 18446744073709551616.0);
  EXPECT_EQ(read_plain_scalar("-1").uint64, std::nullopt);
  EXPECT_EQ(read_plain_scalar("-0").uint64, 0u);
}

// A leading 0 is octal in YAML 1.1 and decimal in YAML 1.2: the two disagree.
TEST(PlainScalar, AnOctalOfYaml11IsConflicting) {
  for (const char* text : {"010", "-010", "0777", "00010"})
    EXPECT_EQ(read_plain_scalar(text).kind, Kind::Conflicting) << text;
  for (const char* text : {"00", "007", "-01"})  // one digit: the same number in both
    EXPECT_TRUE(read_plain_scalar(text).is_number()) << text;
}

TEST(PlainScalar, ReadsBooleansAndNulls) {
  for (const char* text : {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"}) {
    EXPECT_EQ(read_plain_scalar(text).kind, Kind::Boolean) << text;
    EXPECT_TRUE(read_plain_scalar(text).boolean) << text;
  }
  for (const char* text : {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"}) {
    EXPECT_EQ(read_plain_scalar(text).kind, Kind::Boolean) << text;
    EXPECT_FALSE(read_plain_scalar(text).boolean) << text;
  }
  for (const char* text : {"~", "null", "Null", "NULL", ""})
    EXPECT_EQ(read_plain_scalar(text).kind, Kind::Null) << text;
}

// What neither version reads as anything but text.
TEST(PlainScalar, TextStaysText) {
  for (const char* text :
       {"y",   "n",    "Y",    "tRUE",  "yES",  "nul",  "0x",          "0x_",   "0b",    "0b2",
        "0o8", "0o",   "+0o7", "1e",    "e3",   ".",    "._",          "-.nan", "+.nan", ".Nan",
        "inf", "nan",  "1_",   "_1",    "1:60", "0:30", "1:3a",        "1.2.3", "1,000", "5 ",
        " 5",  "0x1g", "12ab", "1:30:", "--5",  "+-5",  "\xef\xbc\x95"}) {
    const PlainScalar x = read_plain_scalar(text);
    if (std::string(text) == "1_") {  // PyYAML: [1-9][0-9_]* is 1
      EXPECT_EQ(x.number, 1);
      continue;
    }
    EXPECT_EQ(x.kind, Kind::Text) << text;
  }
}

}  // namespace
}  // namespace gengyun::deploy
