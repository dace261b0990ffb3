// render_dot / save_graph: write the DOT text and, when Graphviz is installed, run `dot` on it
// (run_program: no shell, so no file name is ever parsed by a shell).
#include <cctype>
#include <fstream>
#include <string>

#include "dot.hpp"
#include "process.hpp"

namespace xgrad {

namespace {

std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

void write_text(const std::filesystem::path& p, const std::string& text) {
    std::ofstream f(p, std::ios::binary);
    if (!f) throw error("xgrad::render_dot: cannot open '" + p.string() + "' for writing (does the folder exist?)");
    f << text;
    f.close();
    if (!f) throw error("xgrad::render_dot: writing '" + p.string() + "' failed (disk full?)");
}

}  // namespace

std::filesystem::path find_graphviz_dot() { return find_program("dot"); }

render_result render_dot(const std::string& dot_text, const std::filesystem::path& output) {
    render_result r;
    r.output = output;
    const std::string ext = lower(output.extension().string());
    if (ext == ".dot" || ext == ".gv") {
        write_text(output, dot_text);
        r.dot_file = output;
        r.message = "wrote " + output.string();
        return r;
    }
    if (ext != ".svg" && ext != ".png" && ext != ".pdf")
        throw argument_error("xgrad::render_dot: cannot tell the format of '" + output.string() +
                             "'; end the name in .svg, .png, .pdf or .dot");
    r.dot_file = std::filesystem::path(output).replace_extension(".dot");
    write_text(r.dot_file, dot_text);
    const auto dot = find_graphviz_dot();
    const std::string format = "-T" + ext.substr(1);
    if (dot.empty()) {
        r.message = "Graphviz's `dot` is not on PATH: wrote " + r.dot_file.string() + "; render it with: dot " +
                    format + " " + r.dot_file.string() + " -o " + output.string();
        return r;
    }
    const int status = run_program(dot, {format, path_argument(r.dot_file), "-o", path_argument(output)});
    if (status != 0)
        throw error("xgrad::render_dot: Graphviz failed on " + r.dot_file.string() + " (exit status " +
                    std::to_string(status) + "); its message is above");
    r.rendered = true;
    r.message = "wrote " + output.string() + " (and " + r.dot_file.string() + ")";
    return r;
}

render_result save_graph(const tape& t, const std::filesystem::path& output, const dot_options& opt) {
    return render_dot(to_dot(t, opt), output);
}

}  // namespace xgrad
