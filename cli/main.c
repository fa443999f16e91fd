#include "config.h"

#include "cli/cli.h"

int main(int argc, char **argv)
{
        return ovl_cli_run(argc, argv);
}
