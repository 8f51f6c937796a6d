# fish completion for depmod. Installed as share/fish/vendor_completions.d/depmod.fish.
#
# The first operand is a kernel version: a subdirectory of <basedir><moduledir>, both taken
# from the command line (defaults "" and /lib/modules, or /usr/lib/modules where /lib/modules
# does not exist). Later operands are module files (*.ko*).

# Scan the words before the cursor as getopt_long does; print three lines: the base directory,
# the module directory (empty when not given) and the number of operands. Prints nothing when
# the cursor is on an option's argument.
function __depmod_scan
    set -l words (commandline -opc)
    set -e words[1]
    set -l base ''
    set -l moddir ''
    set -l operands 0
    set -l pending ''
    set -l dashdash 0
    for w in $words
        if test -n "$pending"
            test $pending = b; and set base $w
            test $pending = m; and set moddir $w
            set pending ''
            continue
        end
        if test $dashdash = 1; or not string match -q -- '-?*' $w
            set operands (math $operands + 1)
        else if test $w = --
            set dashdash 1
        else if string match -q -- '--*' $w
            set -l name (string replace -r -- '=.*' '' $w)
            set -l letter (__depmod_long_letter $name)
            contains -- "$letter" b m o C E F P j kernels diagnostics explain; or continue
            if string match -q -- '*=*' $w
                set -l value (string replace -r -- '^[^=]*=' '' $w)
                test $letter = b; and set base $value
                test $letter = m; and set moddir $value
            else
                set pending $letter
            end
        else
            # A cluster of short options: the first one taking an argument takes the rest.
            set -l letters (string split '' -- (string sub -s 2 -- $w))
            for i in (seq (count $letters))
                contains -- $letters[$i] b m o C E F P j; or continue
                set -l rest (string sub -s (math $i + 2) -- $w)
                if test -z "$rest"
                    set pending $letters[$i]
                else
                    test $letters[$i] = b; and set base $rest
                    test $letters[$i] = m; and set moddir $rest
                end
                break
            end
        end
    end
    test -n "$pending"; and return 1
    printf '%s\n' $base $moddir $operands
end

# The option that long option $argv[1] names: its short letter, or its name for an option
# without one. It may be an unambiguous prefix, matched first against kmod's names and then
# against our additions (-j, --cache, --no-cache, --check, --kernels, --diagnostics,
# --strict, --graph, --explain), as depmod's getopt_long does.
function __depmod_long_letter
    set -l kmod all:a quick:A basedir:b moduledir:m outdir:o config:C symvers:E filesyms:F \
        errsyms:e verbose:v show:n dry-run:n symbol-prefix:P warn:w version:V help:h
    set -l additions jobs:j cache:cache no-cache:no-cache check:check kernels:kernels diagnostics:diagnostics strict:strict graph:graph explain:explain
    set -l name (string sub -s 3 -- $argv[1])
    for table in kmod additions
        set -l found
        for entry in $$table
            set -l parts (string split : -- $entry)
            if test "$parts[1]" = "$name"
                echo $parts[2]
                return 0
            end
            string match -q -- "$name*" $parts[1]; and set -a found $parts[2]
        end
        set found (printf '%s\n' $found | sort -u)
        if set -q found[1]
            test (count $found) = 1; and echo $found
            return
        end
    end
end

function __depmod_expand_home
    string replace -r -- '^~(?=/|$)' $HOME $argv[1]
end

# True when the word under the cursor is the kernel version operand.
function __depmod_wants_version
    set -l scan (__depmod_scan); or return 1
    test "$scan[3]" = 0; and not string match -q -- '-*' (commandline -ct)
end

# True when the word under the cursor is a module file operand.
function __depmod_wants_module
    set -l scan (__depmod_scan); or return 1
    test "$scan[3]" != 0
end

function __depmod_versions
    set -l scan (__depmod_scan); or return
    set -l base (__depmod_expand_home $scan[1])
    set -l moddir (__depmod_expand_home $scan[2])
    if test -z "$moddir"
        if test -d "$base/lib/modules"; or not test -d "$base/usr/lib/modules"
            set moddir /lib/modules
        else
            set moddir /usr/lib/modules
        end
    end
    for d in $base$moddir/*/
        printf '%s\tKernel version\n' (basename -- $d)
    end
end

function __depmod_modules
    # File completion of the current word by way of a command that has no completions, kept
    # to directories and names containing .ko.
    complete -C"__depmod_no_such_command "(commandline -ct) | string match -r -- '^[^\t]*(/|\.ko[^/\t]*)(\t.*)?$'
end

# Completions of an option's argument of kind $argv[1] (dir or file), in the current word
# alone (-b DIR), after a long option (--basedir=DIR) or attached to short ones (-bDIR, -vbDIR).
function __depmod_arg
    set -l tok (commandline -ct)
    set -l head ''
    if string match -qr -- '^-[^-]' $tok
        # The first letter taking an argument takes the rest of the word.
        set -l letters (string split '' -- (string sub -s 2 -- $tok))
        for i in (seq (count $letters))
            contains -- $letters[$i] b m o C E F P j; or continue
            set head (string sub -l (math $i + 1) -- $tok)
            break
        end
    end
    set -l rest (string sub -s (math (string length -- "$head") + 1) -- $tok)
    switch $argv[1]
        case dir
            __fish_complete_directories $rest | string replace -r -- '^' $head
        case file
            complete -C"__depmod_no_such_command $rest" | string replace -r -- '^' $head
    end
end

complete -c depmod -f
# The options, in the order of depmod::cli::OPTIONS (tests/it/completions.rs keeps them in step).
complete -c depmod -s a -l all -d 'Probe all modules'
complete -c depmod -s A -l quick -d 'Only do the work if there is a new module'
complete -c depmod -s b -l basedir -x -a '(__depmod_arg dir)' -d 'Root path (default: /)'
complete -c depmod -s m -l moduledir -x -a '(__depmod_arg dir)' -d 'Module directory (default: /lib/modules)'
complete -c depmod -s o -l outdir -x -a '(__depmod_arg dir)' -d 'Output root path (default: the base directory)'
complete -c depmod -s C -l config -x -a '(__depmod_arg file)' -d 'Read configuration from PATH'
complete -c depmod -s E -l symvers -x -a '(__depmod_arg file)' -d 'Check symbol versions against a Module.symvers file'
complete -c depmod -s F -l filesyms -x -a '(__depmod_arg file)' -d 'Kernel symbols from a System.map file'
complete -c depmod -s e -l errsyms -d 'Report symbols not supplied'
complete -c depmod -s v -l verbose -d 'Enable verbose mode'
complete -c depmod -s n -l show -l dry-run -d 'Write the dependency file on stdout only'
complete -c depmod -s P -l symbol-prefix -x -d 'Architecture symbol prefix'
complete -c depmod -s w -l warn -d 'Warn on duplicates'
complete -c depmod -s V -l version -d 'Show version'
complete -c depmod -s h -l help -d 'Show help'
complete -c depmod -s j -l jobs -x -d 'Read modules on N threads (default: all cores)'
complete -c depmod -l cache -d 'Reuse facts of unchanged modules (default on the running system)'
complete -c depmod -l no-cache -d 'Neither read nor write the scan cache (also DEPMOD_CACHE=0)'
complete -c depmod -l check -d 'Exit 1 if any output would change; write nothing'
complete -c depmod -l kernels -x -a 'all' -d 'Index each kernel of LIST (all, or V1,V2,...)'
complete -c depmod -l diagnostics -x -a 'text json summary' -d 'Print messages as text, json (JSON Lines) or summary'
complete -c depmod -l strict -d 'Exit 2 when any warning or error was printed'
complete -c depmod -l graph -d 'Print the dependency graph (Graphviz DOT); write nothing'
complete -c depmod -l explain -x -a '(__depmod_arg file)' -d 'Explain MODULE\'s file, dependencies and load order; write nothing'
# Operands: the kernel version, then module files.
complete -c depmod -n __depmod_wants_version -a '(__depmod_versions)'
complete -c depmod -n __depmod_wants_module -a '(__depmod_modules)'
