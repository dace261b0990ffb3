#pragma once
// Checked, atomic output files of the xgrad program (metrics logs, CSVs, plot scripts).
//
// write_text_file(path, text, what) is nn::write_text_file (nn/dataset_io.hpp), the checkpoints'
// atomic writer (nn/npz_write.cpp): a temporary file beside the target, every write, the flush to disk
// (fsync) and the close checked, then renamed over the target; a failure at any point (disk full, a
// missing folder, a read-only one) throws an xgrad::error naming the file, `what` wrote it and the
// system's reason, and leaves the previous file untouched. A symbolic link is written through, a target
// that exists and is not a regular file (a device such as /dev/full, a FIFO, a directory) is refused
// before anything is written, and temporaries of an earlier writer that died are removed.
#include <cstddef>
#include <string>

namespace xgrad::cli {

void write_text_file(const std::string& path, const std::string& text, const std::string& what);

// Keras's progress line: a 30-character bar for step of steps ("[=====>....]") and an epoch's time
// ("3s 12ms/step"; us/step below 1 ms).
std::string progress_bar(std::size_t step, std::size_t steps);
std::string keras_timing(double seconds, std::size_t steps);

// Flushes standard output and throws xgrad::error when any write to it failed (a full disk, a closed pipe).
void check_stdout();

}  // namespace xgrad::cli
