// xgrad: the command-line program. `xgrad --help` lists the subcommands.
#include <cstdlib>
#include <iostream>
#include <new>
#include <string>
#include <vector>

#include <unistd.h>

#include <xgrad/nn/dist.hpp>
#include <xgrad/ops/ops.hpp>

#include "commands.hpp"
#include "output.hpp"

namespace {

// OpenBLAS falls back to SSE3 kernels on CPUs it cannot name (typical in VMs) and reads
// OPENBLAS_CORETYPE only when it loads (see blas_info in ops/ops.hpp). When the detected core is not
// the best for this CPU and OPENBLAS_CORETYPE is unset, set it and re-execute this program with the
// same arguments. Returns (without exec) when nothing needs fixing, with XGRAD_KEEP_BLAS_CORE=1, or
// when the re-exec fails (the program then runs on the detected core).
void reexec_with_best_blas_core(char** argv) {
    const char* keep = std::getenv("XGRAD_KEEP_BLAS_CORE");
    if (keep && std::string(keep) == "1") return;
    const xgrad::blas_info info = xgrad::blas_config();
    if (info.env_set || info.suggested_core.empty()) return;
    if (::setenv("OPENBLAS_CORETYPE", info.suggested_core.c_str(), 1) != 0) return;
    ::execv("/proc/self/exe", argv);  // returns only on failure
    ::unsetenv("OPENBLAS_CORETYPE");
}

}  // namespace

int main(int argc, char** argv) {
    reexec_with_best_blas_core(argv);
    // Under mpirun every rank runs this program; a plain run starts no MPI (nn/dist.hpp).
    xgrad::dist::init(&argc, &argv);
    struct finalize_mpi {
        ~finalize_mpi() { xgrad::dist::finalize(); }
    } finalize_at_exit;
    CLI::App app{"xgrad: reverse-mode autodiff for recurrent networks (train, generate text, inspect, gradient-check)"};
    app.require_subcommand(1);
    std::vector<std::pair<CLI::App*, xgrad::cli::command>> commands;
    auto add = [&](xgrad::cli::command (*make)(CLI::App&)) {
        const std::size_t before = app.get_subcommands({}).size();
        auto run = make(app);
        commands.emplace_back(app.get_subcommands({})[before], std::move(run));
    };
    add(xgrad::cli::add_check);
    add(xgrad::cli::add_ops);
    add(xgrad::cli::add_train);
    add(xgrad::cli::add_graph);
    add(xgrad::cli::add_bench);
    add(xgrad::cli::add_generate);
    add(xgrad::cli::add_study);
    add(xgrad::cli::add_predict);
    add(xgrad::cli::add_export);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    std::string name;
    try {
        int status = 0;
        for (auto& [sub, run] : commands)
            if (sub->parsed()) {
                name = sub->get_name();
                status = run();
                break;
            }
        xgrad::cli::check_stdout();
        return status;
    } catch (const std::bad_alloc&) {  // an allocation outside a tensor's storage (those say their shape and size)
        std::cerr << "xgrad " << name << ": error: out of memory (std::bad_alloc); use smaller sizes (--hidden, "
                     "--batch, --steps, --samples) or free memory\n";
        return 1;
    } catch (const std::exception& e) {
        std::cerr << "xgrad: error: " << e.what() << "\n";
        // The other ranks may wait in a collective for this one: end the whole job now.
        if (xgrad::dist::world().size() > 1) xgrad::dist::abort(1);
        return 1;
    }
}
