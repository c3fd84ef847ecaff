#include "deploy/units.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <utility>

namespace gengyun::deploy {
namespace {

TEST(Duration, ParsesGoDurationStrings) {
  EXPECT_EQ(parse_duration("5m").value(), 300'000'000);
  EXPECT_EQ(parse_duration("1h30m").value(), 5'400'000'000);
  EXPECT_EQ(parse_duration("1.5h").value(), 5'400'000'000);
  EXPECT_EQ(parse_duration("300ms").value(), 300'000);
  EXPECT_EQ(parse_duration("2s500ms").value(), 2'500'000);
  EXPECT_EQ(parse_duration("10us").value(), 10);
  EXPECT_EQ(parse_duration("0").value(), 0);
  EXPECT_EQ(parse_duration("0s").value(), 0);
  EXPECT_EQ(parse_duration("-1m").value(), kKeepForever);
  EXPECT_EQ(parse_duration("-1ns").value(), kKeepForever);
  // A negative number needs no unit to be negative (QA: `serve --memory-wait -1` asked for a
  // unit instead of saying that it must not be negative).
  EXPECT_EQ(parse_duration("-1").value(), kKeepForever);
  EXPECT_EQ(parse_duration("-0.5").value(), kKeepForever);
}

TEST(Duration, RejectsMalformedStrings) {
  EXPECT_EQ(parse_duration("").error().message, "invalid duration '': it is empty");
  EXPECT_EQ(parse_duration("300").error().message,
            "invalid duration '300': a number needs a unit (ns, us, ms, s, m, h), e.g. \"5m\"");
  EXPECT_EQ(parse_duration("+1").error().message,
            "invalid duration '+1': a number needs a unit (ns, us, ms, s, m, h), e.g. \"5m\"");
  EXPECT_EQ(parse_duration("-0.0").error().message,
            "invalid duration '-0.0': a number needs a unit (ns, us, ms, s, m, h), e.g. \"5m\"");
  EXPECT_EQ(parse_duration("-1x").error().message,
            "invalid duration '-1x': unknown unit 'x' (ns, us, ms, s, m, h)");
  EXPECT_EQ(parse_duration("5d").error().message,
            "invalid duration '5d': unknown unit 'd' (ns, us, ms, s, m, h)");
  EXPECT_EQ(parse_duration("1000000h").error().message,
            "invalid duration '1000000h': longer than 100 years");
}

// Each malformed duration is told what is wrong in it (QA: `serve --memory-wait 1e3s` said
// "unknown unit 'e'"); a leading '+' is Go's too.
TEST(Duration, SaysWhatIsWrongInAMalformedNumber) {
  EXPECT_EQ(parse_duration("+5s").value(), 5'000'000);
  EXPECT_EQ(parse_duration(".5s").value(), 500'000);
  const std::string plain =
      "; a duration's numbers are plain decimals (digits and an optional '.'), e.g. \"1000s\" or "
      "\"1.5h\"";
  const std::pair<const char*, std::string> cases[] = {
      {"1e3s", "invalid duration '1e3s': the number '1e3' has an exponent" + plain},
      {"1E+3s", "invalid duration '1E+3s': the number '1E+3' has an exponent" + plain},
      {"2e-3h", "invalid duration '2e-3h': the number '2e-3' has an exponent" + plain},
      {"1m1e3s", "invalid duration '1m1e3s': the number '1e3' has an exponent" + plain},
      {"-1e3", "invalid duration '-1e3': the number '1e3' has an exponent" + plain},
      {"1.5.3s", "invalid duration '1.5.3s': the number '1.5.3' has more than one '.'" + plain},
      {"1..5s", "invalid duration '1..5s': the number '1..5' has more than one '.'" + plain},
      {"0x10s", "invalid duration '0x10s': the number '0x10' is hexadecimal" + plain},
      {"0X1fs", "invalid duration '0X1fs': the number '0X1f' is hexadecimal" + plain},
      {"inf", "invalid duration 'inf': 'inf' is not a number a duration can take" + plain},
      {"-Infinity",
       "invalid duration '-Infinity': 'Infinity' is not a number a duration can take" + plain},
      {"nan", "invalid duration 'nan': 'nan' is not a number a duration can take" + plain},
      {"s", "invalid duration 's': the unit 's' has no number before it, e.g. \"5s\""},
      {"m", "invalid duration 'm': the unit 'm' has no number before it, e.g. \"5m\""},
      {"1hms", "invalid duration '1hms': unknown unit 'hms' (ns, us, ms, s, m, h)"},
      {"ms5s", "invalid duration 'ms5s': the unit 'ms' has no number before it, e.g. \"5ms\""},
      {"abc",
       "invalid duration 'abc': expected a number at 'abc': a duration is numbers with units (ns, "
       "us, ms, s, m, h), e.g. \"5m\""},
      {"5m.",
       "invalid duration '5m.': expected a number at '.': a duration is numbers with units (ns, "
       "us, ms, s, m, h), e.g. \"5m\""},
      {"5 s",
       "invalid duration '5 s': it holds whitespace; write each number and its unit together, e.g. "
       "\"5s\" or \"1h30m\""},
      {" 5s",
       "invalid duration ' 5s': it holds whitespace; write each number and its unit together, e.g. "
       "\"5s\" or \"1h30m\""},
      {"5s\t",
       "invalid duration '5s\t': it holds whitespace; write each number and its unit together, "
       "e.g. "
       "\"5s\" or \"1h30m\""},
      {"+-5s",
       "invalid duration '+-5s': a sign ('+' or '-') may only start the duration, e.g. \"-1m\""},
      {"5s-3s",
       "invalid duration '5s-3s': a sign ('+' or '-') may only start the duration, e.g. \"-1m\""},
      {"5-3s",
       "invalid duration '5-3s': a sign ('+' or '-') may only start the duration, e.g. \"-1m\""},
      {"1es", "invalid duration '1es': unknown unit 'es' (ns, us, ms, s, m, h)"},
  };
  for (const auto& [text, message] : cases) {
    const Result<int64_t> r = parse_duration(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.error().message, message);
  }
  // A keep-alive's number of seconds takes an exponent ("1e3"), its durations do not.
  EXPECT_EQ(parse_keep_alive("1e3").value(), 1'000'000'000);
  EXPECT_EQ(parse_keep_alive("1e3s").error().message,
            "invalid duration '1e3s': the number '1e3' has an exponent" + plain);
  EXPECT_EQ(parse_keep_alive("0x10").error().message,
            "invalid duration '0x10': the number '0x10' is hexadecimal" + plain);
}

TEST(Duration, SecondsFollowOllama) {
  EXPECT_EQ(keep_alive_from_seconds(0).value(), 0);
  EXPECT_EQ(keep_alive_from_seconds(1.5).value(), 1'500'000);
  EXPECT_EQ(keep_alive_from_seconds(-1).value(), kKeepForever);
  EXPECT_EQ(keep_alive_from_seconds(-0.5).value(), kKeepForever);
}

// One rule for the number and the string forms (docs/deploy.md): any negative value is
// "never", 0 is "at once", 100 years is the most either form takes.
TEST(KeepAlive, NumbersAndStringsFollowOneRule) {
  EXPECT_EQ(keep_alive_from_seconds(-1).value(), kKeepForever);
  EXPECT_EQ(parse_keep_alive("-1").value(), kKeepForever);
  EXPECT_EQ(keep_alive_from_seconds(-5).value(), kKeepForever);
  EXPECT_EQ(parse_keep_alive("-5").value(), kKeepForever);
  EXPECT_EQ(parse_keep_alive("-5m").value(), kKeepForever);
  EXPECT_EQ(keep_alive_from_seconds(-1e20).value(), kKeepForever);
  EXPECT_EQ(parse_keep_alive("-1e400").value(), kKeepForever);
  EXPECT_EQ(parse_keep_alive("-1000000h").value(), kKeepForever);
  EXPECT_EQ(keep_alive_from_seconds(0).value(), 0);
  EXPECT_EQ(parse_keep_alive("0").value(), 0);
  EXPECT_EQ(parse_keep_alive("-0").value(), 0);
  EXPECT_EQ(parse_keep_alive("0s").value(), 0);
  EXPECT_EQ(parse_keep_alive("300").value(), 300'000'000);
  EXPECT_EQ(parse_keep_alive("+1.5").value(), 1'500'000);
  EXPECT_EQ(parse_keep_alive("1e-400").value(), 0);
  EXPECT_EQ(parse_keep_alive("5m").value(), 300'000'000);
  EXPECT_EQ(parse_keep_alive("1h30m").value(), 5'400'000'000);

  // The bound, 100 years, is the same in both forms: exactly it passes, above it fails.
  constexpr double kHundredYearsS = 100.0 * 365 * 24 * 3600;
  EXPECT_EQ(kMaxKeepAliveUs, 3'153'600'000'000'000);
  EXPECT_EQ(keep_alive_from_seconds(kHundredYearsS).value(), kMaxKeepAliveUs);
  EXPECT_EQ(parse_keep_alive("3153600000").value(), kMaxKeepAliveUs);
  EXPECT_EQ(parse_keep_alive("876000h").value(), kMaxKeepAliveUs);
  EXPECT_EQ(keep_alive_from_seconds(1e20).error().message,
            "invalid keep-alive 1e+20 seconds: longer than 100 years (-1 keeps the model loaded)");
  EXPECT_EQ(keep_alive_from_seconds(kHundredYearsS + 1).error().message,
            "invalid keep-alive 3.1536e+09 seconds: longer than 100 years (-1 keeps the model "
            "loaded)");
  EXPECT_EQ(keep_alive_from_seconds(HUGE_VAL).error().message,
            "invalid keep-alive inf seconds: longer than 100 years (-1 keeps the model loaded)");
  EXPECT_EQ(parse_keep_alive("1e20").error().message,
            "invalid keep-alive '1e20': longer than 100 years (-1 keeps the model loaded)");
  EXPECT_EQ(parse_keep_alive("3153600001").error().message,
            "invalid keep-alive '3153600001': longer than 100 years (-1 keeps the model loaded)");
  EXPECT_EQ(parse_keep_alive("1e400").error().message,
            "invalid keep-alive '1e400': longer than 100 years (-1 keeps the model loaded)");
  EXPECT_EQ(parse_keep_alive("876001h").error().message,
            "invalid duration '876001h': longer than 100 years");
  EXPECT_EQ(keep_alive_from_seconds(std::nan("")).error().message,
            "invalid keep-alive: not a number");
  EXPECT_EQ(parse_keep_alive("5 minutes").error().message,
            "invalid duration '5 minutes': it holds whitespace; write each number and its unit "
            "together, e.g. \"5s\" or \"1h30m\"");
  EXPECT_EQ(parse_keep_alive("-").error().message, "invalid duration '-': it is empty");
}

TEST(ByteSize, ParsesUnits) {
  EXPECT_EQ(parse_byte_size("8GiB").value(), int64_t{8} << 30);
  EXPECT_EQ(parse_byte_size("512 MiB").value(), int64_t{512} << 20);
  EXPECT_EQ(parse_byte_size("1.5G").value(), 1'500'000'000);
  EXPECT_EQ(parse_byte_size("2kb").value(), 2000);
  EXPECT_EQ(parse_byte_size("4096").value(), 4096);
  EXPECT_EQ(parse_byte_size("0").value(), 0);  // --max-memory 0: no limit, as without the flag
  EXPECT_EQ(parse_byte_size("1TiB").value(), int64_t{1} << 40);
  EXPECT_EQ(parse_byte_size("8XB").error().message,
            "invalid byte size '8XB': unknown unit 'XB' (B, KB, KiB, MB, MiB, GB, GiB, TB, TiB)");
  EXPECT_EQ(parse_byte_size("-1G").error().message,
            "invalid byte size '-1G': expected a number with an optional unit, e.g. 8GiB or "
            "512MB");
  EXPECT_EQ(parse_byte_size("9999999999TiB").error().message,
            "invalid byte size '9999999999TiB': too large");
  // An exponent is no unit "e9" (QA: "unknown unit 'e9'").
  for (const char* exponent : {"1e9", "2E+9", "1.5e-3GB"}) {
    EXPECT_EQ(parse_byte_size(exponent).error().message,
              "invalid byte size '" + std::string(exponent) +
                  "': the number has an exponent; a byte size is a plain decimal with an "
                  "optional unit, e.g. 1GB or 1000000000");
  }
  EXPECT_EQ(parse_byte_size("1 eB").error().message,
            "invalid byte size '1 eB': unknown unit 'eB' (B, KB, KiB, MB, MiB, GB, GiB, TB, TiB)");
}

TEST(ByteSize, FormatsForPeople) {
  EXPECT_EQ(format_bytes(512), "512 B");
  EXPECT_EQ(format_bytes(1536), "1.5 KiB");
  EXPECT_EQ(format_bytes(int64_t{3} << 30), "3.0 GiB");
}

}  // namespace
}  // namespace gengyun::deploy
