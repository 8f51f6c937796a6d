# bash completion for depmod                                   -*- shell-script -*-
#
# Installed as share/bash-completion/completions/depmod (loaded on demand by bash-completion),
# or sourced directly: it needs nothing but bash 4.
#
# Options are completed in every form getopt_long accepts: -b DIR, -bDIR, --basedir DIR,
# --basedir=DIR and unambiguous long prefixes (--base=DIR). The first operand is a kernel
# version: a subdirectory of <basedir><moduledir>, both taken from the command line (defaults
# "" and /lib/modules, or /usr/lib/modules where /lib/modules does not exist). Later operands
# are module files (*.ko*).

# Print the option that word $1 names, as a key of the caller's _depmod_kinds: $1 itself for a
# short option or a long one without a short form, else the long option's short form. A long
# option may be an unambiguous prefix, matched first against kmod's names and then against our
# additions, as depmod's getopt_long does. Fails for an unknown or ambiguous option.
_depmod_option()
{
    local name=$1 key found= additions
    if [[ $name != --* ]]; then
        [[ -n ${_depmod_kinds[$name]+set} ]] && printf '%s\n' "$name"
        return
    fi
    if [[ -n ${_depmod_longs[$name]+set} ]]; then
        printf '%s\n' "${_depmod_longs[$name]}"
        return 0
    fi
    [[ $name == --?* ]] || return 1
    for additions in 0 1; do
        for key in "${!_depmod_longs[@]}"; do
            [[ $key == "$name"* ]] || continue
            [[ " $_depmod_additions " == *" ${_depmod_longs[$key]} "* ]] && ((additions == 0)) && continue
            [[ " $_depmod_additions " != *" ${_depmod_longs[$key]} "* ]] && ((additions == 1)) && continue
            # -n has two long names: a prefix of both names one option.
            [[ -n $found && $found != "${_depmod_longs[$key]}" ]] && return 1
            found=${_depmod_longs[$key]}
        done
        [[ -n $found ]] && break
    done
    [[ -n $found ]] && printf '%s\n' "$found"
}

# The path in word $1 as the shell would see it: quotes and backslashes removed, ~ expanded.
_depmod_unquote()
{
    local w=$1
    case $w in
        \'*) w=${w#\'} w=${w%\'} ;;
        \"*) w=${w#\"} w=${w%\"} ;;
        *) w=${w//\\/} ;;
    esac
    case $w in
        '~') w=$HOME ;;
        '~/'*) w=$HOME/${w#'~/'} ;;
    esac
    printf '%s\n' "$w"
}

# Add to COMPREPLY the completions of value $2 for an argument of kind $1. $3 is text that
# precedes the value in the same word (-b or --basedir=); when it is not empty the candidates
# carry it and directories get their slash here, since readline cannot test them as paths.
_depmod_values()
{
    local kind=$1 value=$2 prefix=$3 c
    local -a found=()
    case $kind in
        dir) mapfile -t found < <(compgen -d -- "$value") ;;
        path | file) mapfile -t found < <(compgen -f -- "$value") ;;
        *) return 0 ;;
    esac
    if [[ -z $prefix ]]; then
        compopt -o filenames 2>/dev/null
        COMPREPLY+=("${found[@]}")
        return 0
    fi
    compopt -o nospace 2>/dev/null
    for c in "${found[@]}"; do
        if [[ -d $c ]]; then
            COMPREPLY+=("$prefix$c/")
        else
            COMPREPLY+=("$prefix$c ")
        fi
    done
}

_depmod()
{
    # The options, in the order of depmod::cli::OPTIONS (tests/it/completions.rs keeps them in
    # step): each option, by its short form or else its long name, with the kind of its
    # argument ("-" for none: a flag) ...
    local -A _depmod_kinds=(
        [-a]=- [-A]=- [-b]=dir [-m]=dir [-o]=dir [-C]=path [-E]=file [-F]=file
        [-e]=- [-v]=- [-n]=- [-P]=free [-w]=- [-V]=- [-h]=- [-j]=free
        [--cache]=- [--no-cache]=- [--check]=- [--kernels]=free [--diagnostics]=free
        [--strict]=- [--graph]=- [--explain]=free
    )
    # ... each long name with the option it names ...
    local -A _depmod_longs=(
        [--all]=-a [--quick]=-A [--basedir]=-b [--moduledir]=-m [--outdir]=-o
        [--config]=-C [--symvers]=-E [--filesyms]=-F [--errsyms]=-e [--verbose]=-v
        [--show]=-n [--dry-run]=-n [--symbol-prefix]=-P [--warn]=-w [--version]=-V
        [--help]=-h [--jobs]=-j [--cache]=--cache [--no-cache]=--no-cache [--check]=--check
        [--kernels]=--kernels [--diagnostics]=--diagnostics [--strict]=--strict [--graph]=--graph
        [--explain]=--explain
    )
    # ... and the options that are additions to kmod's.
    local _depmod_additions='-j --cache --no-cache --check --kernels --diagnostics --strict --graph --explain'
    COMPREPLY=()

    # Words up to the cursor as getopt will see them. Bash splits words at the characters of
    # COMP_WORDBREAKS too (--basedir=/x arrives as --basedir, =, /x); COMP_LINE tells which
    # pieces touch, and those are joined again.
    local -a words=()
    local i w line=${COMP_LINE:0:${COMP_POINT:-${#COMP_LINE}}} rest
    for ((i = 0; i <= COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]}
        if [[ -z ${COMP_LINE+set} ]]; then
            words+=("$w")
            continue
        fi
        rest=${line#"${line%%[![:space:]]*}"}
        if ((i > 0)) && [[ ${#rest} -eq ${#line} ]]; then
            words[-1]+=${w:0:${#rest}}
        else
            words+=("${w:0:${#rest}}")
        fi
        if [[ $rest == "$w"* ]]; then
            line=${rest:${#w}}
        else
            line=
        fi
    done
    local cur=${words[-1]}
    local cword=$((${#words[@]} - 1))

    # Scan the words before the current one as getopt does.
    local base= moddir= operands=0 pending= dashdash= kind j letter
    for ((i = 1; i < cword; i++)); do
        w=${words[i]}
        if [[ -n $pending ]]; then
            case $pending in
                -b | --basedir) base=$w ;;
                -m | --moduledir) moddir=$w ;;
            esac
            pending=
            continue
        fi
        if [[ -n $dashdash || $w == - || $w != -* ]]; then
            ((operands++))
            continue
        fi
        if [[ $w == -- ]]; then
            dashdash=1
            continue
        fi
        if [[ $w == --* ]]; then
            letter=$(_depmod_option "${w%%=*}") || continue
            [[ ${_depmod_kinds[$letter]} == - ]] && continue
            if [[ $w == *=* ]]; then
                case $letter in
                    -b) base=${w#*=} ;;
                    -m) moddir=${w#*=} ;;
                esac
            else
                pending=$letter
            fi
            continue
        fi
        for ((j = 1; j < ${#w}; j++)); do
            letter=-${w:j:1}
            kind=${_depmod_kinds[$letter]:--}
            [[ $kind == - ]] && continue
            if ((j + 1 < ${#w})); then
                case $letter in
                    -b) base=${w:j+1} ;;
                    -m) moddir=${w:j+1} ;;
                esac
            else
                pending=$letter
            fi
            break
        done
    done

    # Readline replaces only the text after the last word-break character of the word.
    local brk=${COMP_WORDBREAKS//[!=:]/} cut=
    [[ -n $brk && -n ${COMP_LINE+set} ]] && cut=${cur%"${cur##*[$brk]}"}

    if [[ -n $pending ]]; then
        _depmod_values "${_depmod_kinds[$pending]}" "$cur" ""
    elif [[ -z $dashdash && $cur == --* ]]; then
        if [[ $cur == *=* ]]; then
            letter=$(_depmod_option "${cur%%=*}") || return 0
            if [[ $cut == "${cur%%=*}=" ]]; then
                # Readline completes the value alone, as a path.
                _depmod_values "${_depmod_kinds[$letter]}" "${cur#*=}" ""
            else
                _depmod_values "${_depmod_kinds[$letter]}" "${cur#*=}" "${cur%%=*}="
            fi
        else
            for w in "${!_depmod_longs[@]}"; do
                [[ $w == "$cur"* ]] || continue
                if [[ ${_depmod_kinds[${_depmod_longs[$w]}]} == - ]]; then
                    COMPREPLY+=("$w")
                else
                    COMPREPLY+=("$w=")
                fi
            done
            [[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == *= ]] && compopt -o nospace 2>/dev/null
        fi
    elif [[ -z $dashdash && $cur == -* ]]; then
        if [[ $cur == - ]]; then
            for w in "${!_depmod_kinds[@]}"; do
                [[ $w == -? ]] && COMPREPLY+=("$w")
            done
            for w in "${!_depmod_longs[@]}"; do
                if [[ ${_depmod_kinds[${_depmod_longs[$w]}]} == - ]]; then
                    COMPREPLY+=("$w")
                else
                    COMPREPLY+=("$w=")
                fi
            done
        else
            # A cluster of short options: the first one taking an argument takes the rest.
            for ((j = 1; j < ${#cur}; j++)); do
                letter=-${cur:j:1}
                kind=${_depmod_kinds[$letter]:--}
                [[ $kind == - ]] && continue
                ((j + 1 < ${#cur})) && _depmod_values "$kind" "${cur:j+1}" "${cur:0:j+1}"
                break
            done
            [[ ${#COMPREPLY[@]} -eq 0 && $j -ge $((${#cur} - 1)) ]] && COMPREPLY=("$cur")
        fi
    elif ((operands == 0)); then
        # The kernel version: a directory under <basedir><moduledir>.
        base=$(_depmod_unquote "$base")
        if [[ -n $moddir ]]; then
            moddir=$(_depmod_unquote "$moddir")
        elif [[ -d $base/lib/modules || ! -d $base/usr/lib/modules ]]; then
            moddir=/lib/modules
        else
            moddir=/usr/lib/modules
        fi
        local d value
        value=$(_depmod_unquote "$cur")
        for d in "$base$moddir"/*/; do
            [[ -d $d ]] || continue
            d=${d%/}
            d=${d##*/}
            [[ $d == "$value"* ]] && COMPREPLY+=("$d")
        done
    else
        # Module files, and directories to reach them.
        compopt -o filenames 2>/dev/null
        mapfile -t COMPREPLY < <(compgen -f -X '!*.ko*' -- "$cur"; compgen -d -- "$cur")
    fi

    if [[ -n $cut ]]; then
        COMPREPLY=("${COMPREPLY[@]#"$cut"}")
    fi
    return 0
}

complete -F _depmod depmod
