#pragma once
// Text as training data for a character-level model: a vocabulary of bytes and a corpus read from
// files and split into a training and a held-out part.
//   std::string text = nn::read_corpus({"a.txt", "b.txt"});  // clear errors for missing/empty files
//   nn::corpus data = nn::split_corpus(text);                // vocabulary + the last 10 % held out
//
// Characters are bytes: UTF-8 text is modelled byte by byte.
#include <array>
#include <cstddef>
#include <string>
#include <vector>

namespace xgrad::nn {

// The distinct bytes of a text, sorted; ids are positions in `chars`.
class vocabulary {
public:
    vocabulary() { ids_.fill(-1); }
    explicit vocabulary(const std::string& text);  // every distinct byte of text
    static vocabulary from_chars(const std::string& chars);  // chars distinct, in id order
    std::size_t size() const { return chars_.size(); }
    const std::string& chars() const { return chars_; }
    bool contains(char c) const { return ids_[static_cast<unsigned char>(c)] >= 0; }
    std::size_t id(char c) const;  // throws argument_error for a byte outside the vocabulary
    char at(std::size_t id) const { return chars_.at(id); }
    // ids of text's characters; bytes outside the vocabulary are dropped and counted in *dropped
    // (or throw argument_error naming the first one when dropped is null)
    std::vector<std::size_t> encode(const std::string& text, std::size_t* dropped = nullptr) const;

private:
    std::string chars_;
    std::array<int, 256> ids_{};
};

// Printable form of a byte for messages: 'a', '\n', 0x9f.
std::string describe_char(char c);

// The default bound on a corpus: 64 MiB of text (read_corpus's max_bytes).
inline constexpr std::size_t default_max_corpus_bytes = std::size_t{64} << 20;

// The files' contents concatenated (in order). Only regular files are read (a directory, a FIFO, a
// device such as /dev/zero or a socket is refused by name, before reading), and at most max_bytes in
// all (a longer text is refused: the message gives the sizes; raise the bound to read it). Throws
// argument_error for a file that cannot be read, an empty file, or a total text with fewer than 2
// distinct characters.
std::string read_corpus(const std::vector<std::string>& files, std::size_t max_bytes = default_max_corpus_bytes);

struct corpus {
    vocabulary vocab;
    std::vector<std::size_t> train;     // the first (1 - held_out) of the text
    std::vector<std::size_t> held_out;  // the rest
};
// The vocabulary covers the whole text; the split is at the byte nearest to (1 - held_out)·size.
corpus split_corpus(const std::string& text, double held_out = 0.1);

}  // namespace xgrad::nn
