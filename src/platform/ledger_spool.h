// The ledger's durable local spool: ledger writes that could not reach the database wait in a
// file, fsynced, until they are applied (ledger_writer.h).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "gengyun/result.h"
#include "platform/store.h"

namespace gengyun::platform {

/// One spool file, held by one process at a time (an flock for the life of the object). Each
/// write is one text line of tab-separated fields ("w3", the kind, the UsageRecord's fields, then
/// LedgerWrite::carries_admission as 0 or 1, reserved_micro_usd and the row's end_user; text
/// with `\`, tab, CR and LF escaped as `\\`, `\t`, `\r`, `\n`); lines of versions "w2" (without
/// the end user) and "w1" (without the last three) are read too. Not thread-safe.
class LedgerSpool {
 public:
  /// What open() does with a last line without its newline (a crash in the middle of an append,
  /// never acknowledged): cut it off (a server, whose next append starts a line of its own), or
  /// keep it for set_aside_damaged() to set aside as a damaged line (`spool repair`, which
  /// keeps a copy of the spool as it was).
  enum class UnfinishedLine { Cut, Keep };
  /// Opens the spool at `path`, creating it (mode 0600) when missing, and locks it. A file is
  /// written to only once it is known to be a spool: it is a regular file, empty or with a first
  /// line that starts as a spooled write's (ledger_spool_mismatch()), and, for Cut, every
  /// complete line is a spooled write; the unfinished last line is cut only then. Errors: it
  /// cannot be created or opened (missing directory, permissions), another live process holds
  /// it (two servers need spools of their own; `*held` is then set when given), it is not a
  /// regular file, it is not a ledger spool ("'PATH' is not a ledger spool: line 1 starts
  /// with ..."), for Cut a damaged line (read_all()'s error); the file is left as it was.
  static Result<std::unique_ptr<LedgerSpool>> open(const std::string& path, bool* held = nullptr,
                                                   UnfinishedLine unfinished = UnfinishedLine::Cut);
  ~LedgerSpool();
  LedgerSpool(const LedgerSpool&) = delete;
  LedgerSpool& operator=(const LedgerSpool&) = delete;

  /// Appends `writes` and fsyncs: they are durable when it returns. On failure the file is cut
  /// back to what it held before. Errors: I/O (disk full).
  Result<void> append(const std::vector<LedgerWrite>& writes);
  /// Every write in the spool, oldest first. A last line without its newline (a crash in the
  /// middle of an append, which was then never acknowledged) is left out; empty lines and a
  /// CR before a line's LF (a person's edit) are passed over. Errors: I/O, a line that is not a
  /// spooled write (its number named).
  Result<std::vector<LedgerWrite>> read_all();
  /// Empties the spool (after its writes landed) and fsyncs. Errors: I/O.
  Result<void> clear();

  /// What set_aside_damaged() did: the spooled writes it kept, and the 1-based numbers of the
  /// damaged lines it took out (none: nothing was written).
  struct Repair {
    size_t kept = 0;
    std::vector<size_t> damaged_lines;
  };
  /// Takes the lines that are not spooled writes (read_all()'s refusal, which stops `serve`) out
  /// of the spool, keeping the others in order: first the whole spool as it was is copied to
  /// `aside_path` (created, mode 0600; it must not exist) and synced, so a person can read the
  /// damaged lines and nothing is lost if this stops halfway; then the spool is rewritten with
  /// the good lines and synced (empty lines dropped, CR-LF ends made LF). A spool without
  /// damaged lines is left as it was and nothing is created. A last line without its newline,
  /// kept by open(), counts as damaged. Errors: I/O, `aside_path` exists.
  Result<Repair> set_aside_damaged(const std::string& aside_path);
  const std::string& path() const { return path_; }

 private:
  LedgerSpool(int fd, std::string path, size_t bytes)
      : fd_(fd), path_(std::move(path)), bytes_(bytes) {}
  /// The spool's bytes. Errors: I/O.
  Result<std::string> contents() const;
  /// The writes of `data`, the spool's bytes, as read_all() gives them. Errors: a line that is
  /// not a spooled write (its number named).
  Result<std::vector<LedgerWrite>> writes_of(const std::string& data) const;

  int fd_;
  std::string path_;
  size_t bytes_;  ///< the file's size: where the next append goes
};

/// Why the file at `path` is not a ledger spool, known from its type and its first line without
/// writing to it nor locking it: "" when it is missing or is one (empty, or its first line that
/// is not empty starts with a version such as "w3" and a tab, or is an unfinished start of one);
/// else "it is not a regular file", "it is not a ledger spool: line N starts with 'TEXT', not
/// with a spool version such as 'w3' and a tab" (TEXT: its first 16 bytes, others than
/// printable ASCII as \xNN) or "cannot read it: REASON". Damaged lines after the first are
/// not looked for: LedgerSpool::open() names them.
std::string ledger_spool_mismatch(const std::string& path);
/// The spool line of `write` (without its newline).
std::string spool_line(const LedgerWrite& write);
/// The write of a spool line (without its newline). Errors: not a spooled write.
Result<LedgerWrite> parse_spool_line(const std::string& line);

}  // namespace gengyun::platform
