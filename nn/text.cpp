#include "text.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "../graph/errors.hpp"

namespace xgrad::nn {

vocabulary::vocabulary(const std::string& text) {
    std::array<bool, 256> seen{};
    for (char c : text) seen[static_cast<unsigned char>(c)] = true;
    std::string chars;
    for (int b = 0; b < 256; ++b)
        if (seen[b]) chars += static_cast<char>(b);
    *this = from_chars(chars);
}

vocabulary vocabulary::from_chars(const std::string& chars) {
    vocabulary v;
    for (char c : chars) {
        if (v.contains(c)) throw argument_error("vocabulary: character " + describe_char(c) + " appears twice");
        v.ids_[static_cast<unsigned char>(c)] = static_cast<int>(v.chars_.size());
        v.chars_ += c;
    }
    return v;
}

std::size_t vocabulary::id(char c) const {
    const int i = ids_[static_cast<unsigned char>(c)];
    if (i < 0)
        throw argument_error("character " + describe_char(c) + " is not in the model's vocabulary of " +
                             std::to_string(size()) + " characters");
    return static_cast<std::size_t>(i);
}

std::vector<std::size_t> vocabulary::encode(const std::string& text, std::size_t* dropped) const {
    std::vector<std::size_t> out;
    out.reserve(text.size());
    for (char c : text) {
        if (contains(c))
            out.push_back(id(c));
        else if (dropped)
            ++*dropped;
        else
            id(c);  // throws
    }
    return out;
}

std::string describe_char(char c) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\n') return "'\\n'";
    if (c == '\t') return "'\\t'";
    if (c == '\r') return "'\\r'";
    if (u >= 32 && u < 127) return std::string("'") + c + "'";
    char buf[8];
    std::snprintf(buf, sizeof buf, "0x%02x", u);
    return buf;
}

namespace {
std::string kind_of(const std::filesystem::file_status& st) {
    switch (st.type()) {
        case std::filesystem::file_type::directory: return "a directory";
        case std::filesystem::file_type::fifo: return "a FIFO (named pipe)";
        case std::filesystem::file_type::character: return "a character device";
        case std::filesystem::file_type::block: return "a block device";
        case std::filesystem::file_type::socket: return "a socket";
        default: return "not a regular file";
    }
}
std::string mib(std::uintmax_t bytes) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f MiB", double(bytes) / double(1 << 20));
    return buf;
}
}  // namespace

std::string read_corpus(const std::vector<std::string>& files, std::size_t max_bytes) {
    if (files.empty()) throw argument_error("no text files given");
    std::string text;
    for (const auto& f : files) {
        std::error_code ec;
        const auto st = std::filesystem::status(f, ec);  // follows symbolic links
        if (ec || !std::filesystem::exists(st))
            throw argument_error("cannot read the text file '" + f + "' (does it exist and is it readable?)");
        if (st.type() == std::filesystem::file_type::directory)
            throw argument_error("'" + f + "' is a directory; give text files (e.g. " + f + "/*.md)");
        if (st.type() != std::filesystem::file_type::regular)
            throw argument_error("'" + f + "' is " + kind_of(st) + ", not a regular file; give text files (a stream "
                                 "has no end to read to: save it to a file first)");
        const std::uintmax_t size = std::filesystem::file_size(f, ec);
        if (!ec && size > max_bytes - text.size())
            throw argument_error("the text is too large: '" + f + "' (" + std::to_string(size) + " bytes)" +
                                 (text.empty() ? "" : " after " + std::to_string(text.size()) + " bytes of other files") +
                                 " exceeds the corpus limit of " + std::to_string(max_bytes) + " bytes (" + mib(max_bytes) +
                                 "); raise it (xgrad generate --max-corpus-mb N)");
        std::ifstream in(f, std::ios::binary);
        if (!in) throw argument_error("cannot read the text file '" + f + "' (does it exist and is it readable?)");
        // Read at most what the limit allows (+1 byte to see a file that grew since its size was taken).
        const std::size_t room = max_bytes - text.size();
        std::string s(static_cast<std::size_t>(std::min<std::uintmax_t>(ec ? room : size, room)) + 1, '\0');
        in.read(s.data(), static_cast<std::streamsize>(s.size()));
        if (in.bad()) throw argument_error("cannot read the text file '" + f + "'");
        s.resize(static_cast<std::size_t>(in.gcount()));
        if (s.size() > room)
            throw argument_error("the text is too large: with '" + f + "' it exceeds the corpus limit of " +
                                 std::to_string(max_bytes) + " bytes (" + mib(max_bytes) +
                                 "); raise it (xgrad generate --max-corpus-mb N)");
        if (s.empty()) throw argument_error("the text file '" + f + "' is empty; give a file with text in it");
        text += s;
    }
    const vocabulary v(text);
    if (v.size() < 2)
        throw argument_error("the text (" + std::to_string(text.size()) + " bytes) has " + std::to_string(v.size()) +
                             " distinct character(s); a language model needs at least 2");
    return text;
}

corpus split_corpus(const std::string& text, double held_out) {
    if (!(held_out > 0 && held_out < 1)) throw argument_error("held-out fraction must be in (0, 1), got " + std::to_string(held_out));
    corpus c{vocabulary(text), {}, {}};
    const auto ids = c.vocab.encode(text);
    const auto split = static_cast<std::size_t>(std::llround(double(ids.size()) * (1 - held_out)));
    c.train.assign(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(split));
    c.held_out.assign(ids.begin() + static_cast<std::ptrdiff_t>(split), ids.end());
    return c;
}

}  // namespace xgrad::nn
