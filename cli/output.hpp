#pragma once
// Checked, atomic output files of the xgrad program (metrics logs, CSVs, plot scripts).
//
// write_text_file(path, text, what) writes `text` to a temporary file beside the target, checks
// every write, the flush to disk (fsync) and the close, then renames it over the target: a failure
// at any point (disk full, a missing folder, a read-only one) throws xgrad::error naming the file,
// `what` wrote it and the system's reason, and leaves the previous file untouched. As for
// checkpoints (nn/npz.hpp), a symbolic link is written through, and a target that exists and is not
// a regular file (a device such as /dev/full, a FIFO, a directory) is refused before anything is written.
#include <string>

namespace xgrad::cli {

void write_text_file(const std::string& path, const std::string& text, const std::string& what);

// Flushes standard output and throws xgrad::error when any write to it failed (a full disk, a closed pipe).
void check_stdout();

}  // namespace xgrad::cli
