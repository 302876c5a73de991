<#
.SYNOPSIS
    Measures PgBackupTools side by side with the anchors of ../shared/bench/anchors.sh on the same cluster.
.DESCRIPTION
    Runs the anchors (pg_dump alone, the seed's pg_dump | gzip, ...) on the audit workload, then PgBackupTools'
    backups as a user runs them (a new pwsh, Import-Module, Invoke-PgBackup), and a test restore. Prints one
    tab-separated table: name, seconds, bytes out, peak RSS (KiB), and the ratio to the anchor each target names.
    PgBackupTools rows also show CPU seconds: the client's (pwsh and pg_dump, user + sys) and the server's (the
    postmaster's own and its exited backends'): on a small machine their sum against cores x seconds says whether
    a goal is out of reach.
.PARAMETER Only
    A regex of the PgBackupTools rows to run. Diagnostic rows, not run by default: pgbt-plain-zstd-managed (the
    ZstdSharp port instead of libzstd), pgbt-plain-lz4, pgbt-plain-none. Given, it also skips the object-store section
    (which BENCH_SKIP_STORES=1 skips in any case).
.EXAMPLE
    ./build.ps1 Build; dotnet pwsh tests/bench/Invoke-Benchmark.ps1 -Root . -Scale 5 -Only 'zstd$|none|lz4' -KeepCluster
#>
param(
    [Parameter(Mandatory)] [string]$Root,
    [int]$Scale = 20,
    [string]$WorkDir = '/tmp/pgbt-anchors',
    [int]$Port = 55440,
    [switch]$KeepCluster,
    # The physical rows and their pgBackRest anchors run this many times; the table shows each one's median (a loaded machine is noisy).
    [ValidateRange(1, 9)] [int]$Repeat = 1,
    [string]$Only = '^pgbt-(plain-gzip|plain-zstd|plain-zstd-encrypted|plain-zstd\+test-restore|import-module|physical-zstd|physical-zstd-basebackup|physical-restore-immediate|wal-push-1seg|wal-stream-rpo-p99)$'
)
$ErrorActionPreference = 'Stop'
$Root = (Resolve-Path $Root).Path # the rows run from other directories (the push from the data directory)
$anchors = Join-Path $Root '../shared/bench/anchors.sh'
if (-not (Test-Path $anchors)) { throw "The anchors are missing: $anchors (CI and developers have ../shared beside the repository)." }
foreach ($tool in '/usr/bin/time', 'bc') {
    if (-not (Get-Command $tool -ErrorAction SilentlyContinue)) { throw "$tool is needed: apt-get install time bc" }
}

# pgBackRest is the anchor of the physical rows (not needed by the CI tests, so installed here only when missing).
if (-not (Get-Command pgbackrest -ErrorAction SilentlyContinue) -and (Get-Command apt-get -ErrorAction SilentlyContinue) -and (id -u) -eq '0') {
    Write-Host '== apt-get install pgbackrest (the anchor of the physical rows)'
    & apt-get install -y -q pgbackrest | Out-Null
}

$rows = [System.Collections.Generic.List[object]]::new()
function Add-Row($Name, $Seconds, $Bytes, $RssKb, $Cpu = '-', $ServerCpu = '-') {
    $rows.Add([pscustomobject]@{ Name = $Name; Seconds = [double]$Seconds; Bytes = $Bytes; RssKb = $RssKb; Cpu = $Cpu; ServerCpu = $ServerCpu })
}

Write-Host "== anchors.sh (audit workload, scale $Scale) in $WorkDir"
$env:PORT = $Port
$env:WORKLOAD = 'audit'
$env:ONLY = $env:BENCH_ANCHORS ?? '^(pg_dump-plain-devnull|seed-pg_dump-gzip|pg_dump-plain-zstd|pg_dump-custom|basebackup-devnull|pgbackrest-backup-zst-p2|pgbackrest-restore-zst-p2|pgbackrest-archive-push)$'
$anchorLines = @(& bash $anchors $Scale $WorkDir)
$env:ONLY = '^(pgbackrest-backup-zst-p2|pgbackrest-restore-zst-p2|pgbackrest-archive-push)$'
for ($i = 2; $i -le $Repeat; $i++) { $anchorLines += @(& bash $anchors $Scale $WorkDir | Where-Object { $_ -notlike 'workload*' }) }
Remove-Item Env:ONLY, Env:WORKLOAD, Env:PORT
foreach ($line in $anchorLines) {
    $f = $line -split "`t"
    if ($f[0] -eq 'workload') { Write-Host "workload: $($f[1]), database $([math]::Round([double]$f[2] / 1MB)) MiB"; continue }
    Add-Row $f[0] $f[1] $f[2] $f[3]
}

$module = Join-Path $Root 'out/PgBackupTools/PgBackupTools.psd1'
$pwsh = Join-Path $PSHOME 'pwsh'
$socket = Join-Path $WorkDir 'pg'
$repo = Join-Path $WorkDir 'pgbt-repo'

# CPU seconds of the server so far: the postmaster's own, and its children's once they exited (pg_dump's backend).
function Get-ServerCpuSeconds {
    $postmaster = (Get-Content (Join-Path $socket 'data/postmaster.pid') -TotalCount 1).Trim()
    $fields = ((Get-Content "/proc/$postmaster/stat" -Raw) -replace '^.*\) ', '') -split ' '
    $ticks = 0; foreach ($i in 11..14) { $ticks += [long]$fields[$i] } # utime stime cutime cstime
    $ticks / [double](& getconf CLK_TCK)
}

function Measure-Pwsh($Name, $Script) {
    if ($Name -notmatch $Only) { return }
    if (Test-Path $repo) { Remove-Item -Recurse -Force $repo }
    $rss = Join-Path $WorkDir 'pgbt.rss'
    $full = "`$ErrorActionPreference='Stop'; `$ProgressPreference='SilentlyContinue'; Import-Module '$module'; $Script"
    $server = Get-ServerCpuSeconds
    $clock = [Diagnostics.Stopwatch]::StartNew()
    & /usr/bin/time -f '%M %U %S' -o $rss $pwsh -NoProfile -NonInteractive -Command $full | Out-Null
    if ($LASTEXITCODE) { Write-Warning "FAILED $Name"; return }
    $seconds = $clock.Elapsed.TotalSeconds
    $serverCpu = [math]::Round((Get-ServerCpuSeconds) - $server, 2)
    $bytes = (Get-ChildItem $repo -Recurse -File | Measure-Object Length -Sum).Sum
    $rssKb, $user, $sys = (Get-Content $rss | Select-Object -Last 1) -split ' '
    Add-Row $Name ([math]::Round($seconds, 2)) $bytes $rssKb ([math]::Round([double]$user + [double]$sys, 2)) $serverCpu
}

$conn = "-HostName '$socket' -Port $Port -Username postgres"
Write-Host '== PgBackupTools'
Measure-Pwsh 'pgbt-plain-gzip' "Invoke-PgBackup -Repository '$repo' -Database bench $conn | Out-Null"
Measure-Pwsh 'pgbt-plain-zstd' "Invoke-PgBackup -Repository '$repo' -Database bench -Compression Zstd $conn | Out-Null"
$env:PGBACKUPTOOLS_PASSPHRASE = 'bench-passphrase-' + [guid]::NewGuid()
Measure-Pwsh 'pgbt-plain-zstd-encrypted' "Invoke-PgBackup -Repository '$repo' -Database bench -Compression Zstd $conn | Out-Null"
Remove-Item Env:PGBACKUPTOOLS_PASSPHRASE
$env:PGBACKUPTOOLS_ZSTD = 'managed'
Measure-Pwsh 'pgbt-plain-zstd-managed' "Invoke-PgBackup -Repository '$repo' -Database bench -Compression Zstd $conn | Out-Null"
Remove-Item Env:PGBACKUPTOOLS_ZSTD
Measure-Pwsh 'pgbt-plain-lz4' "Invoke-PgBackup -Repository '$repo' -Database bench -Compression Lz4 $conn | Out-Null"
Measure-Pwsh 'pgbt-plain-none' "Invoke-PgBackup -Repository '$repo' -Database bench -Compression None $conn | Out-Null"
Measure-Pwsh 'pgbt-plain-zstd+test-restore' "Invoke-PgBackup -Repository '$repo' -Database bench -Compression Zstd $conn | Test-PgBackup -Restore $conn | ForEach-Object { if (-not `$_.Passed) { throw 'test restore failed' } }"
# Import-Module alone, inside a fresh pwsh (goal <= 0.5 s): the median of five.
if ('pgbt-import-module' -match $Only) {
    $imports = 1..5 | ForEach-Object { [double](& $pwsh -NoProfile -NonInteractive -Command "(Measure-Command { Import-Module '$module' }).TotalSeconds") } | Sort-Object
    Add-Row 'pgbt-import-module' ([math]::Round($imports[2], 3)) '-' '-'
}

# The WAL stream's RPO under pgbench (goal: p99 <= 1 s asynchronous, and no growing lag).
if ('pgbt-wal-stream-rpo-p99' -match $Only) {
    $rpo = & (Join-Path $PSScriptRoot 'Measure-WalStreamRpo.ps1') -Root $Root -HostName $socket -Port $Port -WorkDir (Join-Path $WorkDir 'rpo')
    Write-Host ("WAL stream under pgbench: {0} tps, {1} MiB/s of WAL, commit -> durable p50 {2} s, p99 {3} s, max {4} s; lag first 5 s {5} MiB, last 5 s {6} MiB" -f
        $rpo.Tps, $rpo.WalMiBPerSecond, $rpo.P50Seconds, $rpo.P99Seconds, $rpo.MaxSeconds, $rpo.LagFirst5sMiB, $rpo.LagLast5sMiB)
    Add-Row 'pgbt-wal-stream-rpo-p99' $rpo.P99Seconds '-' '-'
}

# Physical: the cluster archives into a repository of its own through pgbt-wal (restart for archive_mode), then a
# base backup (zstd), a restore of it (-Immediate, files and recovery settings only, as pgbackrest restore does), and
# one 16 MiB segment pushed by pgbt-wal exactly as archive_command runs it (as the server user, from the data
# directory, %p relative), into a fresh repository of a bound stanza so it is a real push (median of at least eleven).
$pgcluster = Join-Path $Root '../shared/bench/pgcluster.sh'
$dataDir = Join-Path $socket 'data'
$physRepo = Join-Path $WorkDir 'pgbt-phys-repo'
$asOwner = if ((id -u) -eq '0') { @('runuser', '-u', 'postgres', '--') } else { @() }
function Invoke-AsOwner([string[]]$Command) {
    $all = @($asOwner) + $Command
    & $all[0] @($all | Select-Object -Skip 1)
    if ($LASTEXITCODE) { throw "$($Command -join ' ') failed ($LASTEXITCODE)" }
}
# The same server binaries as pgcluster.sh (/usr/bin/pg_ctl is Debian's wrapper, or missing).
$pgBin = $env:PGBIN ?? (Get-ChildItem '/usr/lib/postgresql/*/bin' -Directory | Sort-Object { [version]($_.Parent.Name + '.0') } | Select-Object -Last 1).FullName
function Restart-Cluster { Invoke-AsOwner @((Join-Path $pgBin 'pg_ctl'), '-D', $dataDir, '-m', 'fast', '-w', 'restart', '-l', (Join-Path $socket 'server.log')) | Out-Null }
function Measure-Physical($Name, $Script, $BytesOf) {
    $rss = Join-Path $WorkDir 'pgbt.rss'
    $full = "`$ErrorActionPreference='Stop'; `$ProgressPreference='SilentlyContinue'; Import-Module '$module'; $Script"
    $clock = [Diagnostics.Stopwatch]::StartNew()
    & /usr/bin/time -f '%M' -o $rss $pwsh -NoProfile -NonInteractive -Command $full | Out-Null
    if ($LASTEXITCODE) { Write-Warning "FAILED $Name"; return }
    $seconds = $clock.Elapsed.TotalSeconds
    $bytes = (Get-ChildItem (& $BytesOf) -Recurse -File | Measure-Object Length -Sum).Sum
    # The backup runs for the restore and the push rows too (they need it and the archive it fills); shown only when asked for.
    if ($Name -match $Only) { Add-Row $Name ([math]::Round($seconds, 2)) $bytes (Get-Content $rss | Select-Object -Last 1) }
}
$psqlArgs = @('-h', $socket, '-p', $Port, '-U', 'postgres', '-X', '-A', '-t', '-d', 'postgres', '-c')
$physicalRows = @('pgbt-physical-zstd', 'pgbt-physical-zstd-basebackup', 'pgbt-physical-restore-immediate', 'pgbt-wal-push-1seg') -match $Only
if ($physicalRows) { try {
    foreach ($d in $physRepo, (Join-Path $WorkDir 'pgbt-restore'), (Join-Path $WorkDir 'pgbt-push')) { if (Test-Path $d) { Remove-Item -Recurse -Force $d } }
    New-Item -ItemType Directory $physRepo, (Join-Path $WorkDir 'pgbt-push') | Out-Null
    if ($asOwner) { & chown -R postgres:postgres $physRepo (Join-Path $WorkDir 'pgbt-push') }
    & $pwsh -NoProfile -NonInteractive -Command "`$ErrorActionPreference='Stop'; Import-Module '$module'; Enable-PgWalArchiving -Repository '$physRepo' $conn -WarningAction SilentlyContinue | Out-Null"
    if ($LASTEXITCODE) { throw 'Enable-PgWalArchiving failed' }
    Restart-Cluster
    foreach ($i in 1..$Repeat) {
        Measure-Physical 'pgbt-physical-zstd' "Invoke-PgBackup -Repository '$physRepo' -Type Physical -Compression Zstd $conn | Out-Null" { (Get-ChildItem (Join-Path $physRepo 'backups/main') -Directory | Sort-Object Name | Select-Object -Last 1).FullName }
        if ('pgbt-physical-restore-immediate' -match $Only) {
            if (Test-Path "$WorkDir/pgbt-restore") { Remove-Item -Recurse -Force "$WorkDir/pgbt-restore" }
            Measure-Physical 'pgbt-physical-restore-immediate' "Restore-PgDatabase -Repository '$physRepo' -DataDirectory '$WorkDir/pgbt-restore' -Immediate -Confirm:`$false | Out-Null" { Join-Path $WorkDir 'pgbt-restore' }
        }
        # The same backup streamed by pg_basebackup (what Auto falls back to off the server's host), for comparison.
        if ('pgbt-physical-zstd-basebackup' -match $Only) {
            Measure-Physical 'pgbt-physical-zstd-basebackup' "Invoke-PgBackup -Repository '$physRepo' -Type Physical -Method BaseBackup -Compression Zstd $conn | Out-Null" { (Get-ChildItem (Join-Path $physRepo 'backups/main') -Directory | Sort-Object Name | Select-Object -Last 1).FullName }
        }
    }

    if ('pgbt-wal-push-1seg' -match $Only) {
        # A complete segment named by the server (a recycled file in pg_wal may carry another position), copied before a checkpoint removes it.
        $previous = (& psql @psqlArgs "CREATE TABLE IF NOT EXISTS pgbt_bench_tick(x int); INSERT INTO pgbt_bench_tick VALUES (1); SELECT pg_walfile_name(pg_current_wal_lsn())" | Select-Object -Last 1).Trim()
        & psql @psqlArgs 'SELECT pg_switch_wal()' | Out-Null
        $segmentCopy = Join-Path $WorkDir "pgbt-push/pg_wal"
        Invoke-AsOwner @('mkdir', '-p', $segmentCopy)
        Invoke-AsOwner @('cp', (Join-Path $dataDir "pg_wal/$previous"), $segmentCopy)
        $pgbtWal = Join-Path (Split-Path $module) 'bin/pgbt-wal'
        # At least 11 pushes: one takes ~40 ms, so a single scheduling hiccup on a shared machine moves a median of three.
        $pushCount = [math]::Max(11, 2 * $Repeat + 1)
        $pushes = foreach ($i in 1..$pushCount) {
            $pushRepo = Join-Path $WorkDir "pgbt-push/repo$i"
            Invoke-AsOwner @('mkdir', '-p', $pushRepo)
            Invoke-AsOwner @('cp', (Join-Path $physRepo 'repository.json'), $pushRepo)
            # The stanza exists, as pgBackRest's does (stanza-create) when anchors.sh times its push: the binding to the
            # cluster (wal/main/archive.json) is written once by a stanza's first push ever, not by the segment measured.
            Invoke-AsOwner @('mkdir', '-p', "$pushRepo/wal/main")
            Invoke-AsOwner @('cp', (Join-Path $physRepo 'wal/main/archive.json'), "$pushRepo/wal/main/")
            # Timed exactly as anchors.sh times pgbackrest archive-push (date around runuser, from bash): a native command
            # started from pwsh costs ~5 ms more than from bash, which is not the push's time.
            $timed = 't0=$(date +%s.%N); if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi || exit 1; echo "$(date +%s.%N) - $t0" | bc'
            Push-Location (Join-Path $WorkDir 'pgbt-push')
            try { $seconds = & bash -c $timed bash $pgbtWal push "pg_wal/$previous" --repo $pushRepo } finally { Pop-Location }
            if ($LASTEXITCODE) { throw "pgbt-wal push pg_wal/$previous failed ($LASTEXITCODE)" }
            [double]$seconds
        }
        $pushes = @($pushes | Sort-Object)
        Add-Row 'pgbt-wal-push-1seg' $pushes[[int][math]::Floor($pushCount / 2)] 16777216 '-' # unrounded: the ratio to pgBackRest is of a few ms
    }
}
finally {
    # Leave the cluster as anchors.sh expects it: not archiving into a repository that the next run deletes.
    & psql @psqlArgs 'ALTER SYSTEM RESET archive_command' | Out-Null
    & psql @psqlArgs 'ALTER SYSTEM RESET archive_mode' | Out-Null
    & psql @psqlArgs 'ALTER SYSTEM RESET archive_timeout' | Out-Null
    if ($KeepCluster) { Restart-Cluster }
    else { & bash $pgcluster stop $socket } # also when a row failed: no cluster is left behind
} }
elseif (-not $KeepCluster) { & bash $pgcluster stop $socket }

# The rows of one WAL segment pushed take a few ms: they print in milliseconds, since at two decimals of a second a
# 3 ms difference does not show, though it flips their ratio (which is computed from the unrounded values).
$millisecondRows = @('pgbt-wal-push-1seg', 'pgbackrest-archive-push-1seg')
function Format-Time([string]$Name, [double]$Seconds) {
    if ($Name -in $millisecondRows) { '{0:N1} ms' -f ($Seconds * 1000) } else { '{0:N2}' -f $Seconds }
}

# Repeated rows collapse to their median (seconds; bytes and RSS of that run).
$rows = @($rows | Group-Object Name | ForEach-Object {
    $sorted = @($_.Group | Sort-Object Seconds)
    $median = $sorted[[int][math]::Floor(($sorted.Count - 1) / 2)]
    $name = $_.Name
    if ($sorted.Count -gt 1) { $median | Add-Member -NotePropertyName Runs -NotePropertyValue (($sorted.Seconds | ForEach-Object { Format-Time $name $_ }) -join ' ') }
    $median
} | Sort-Object { [array]::IndexOf(@($rows.Name), $_.Name) })
$byName = @{}; foreach ($r in $rows) { $byName[$r.Name] = $r }
$targets = @{
    'pgbt-plain-gzip' = @('seed-pg_dump-gzip', 0.5)
    'pgbt-plain-zstd' = @('pg_dump-plain-devnull', 1.15)
    'pgbt-plain-zstd-managed' = @('pg_dump-plain-devnull', 1.15)
    'pgbt-plain-zstd-encrypted' = @('pgbt-plain-zstd', 1.10)
    'pgbt-physical-zstd' = @('pgbackrest-backup-zst-p2', 0.6)
    'pgbt-physical-restore-immediate' = @('pgbackrest-restore-zst-p2', 1.0)
    'pgbt-wal-push-1seg' = @('pgbackrest-archive-push-1seg', 1.0)
}
$absolute = @{ 'pgbt-import-module' = 0.5; 'pgbt-wal-stream-rpo-p99' = 1.0 }
Write-Host ''
"{0,-32}{1,10}{2,16}{3,12}{4,8}{5,8}  {6}" -f 'name', 'seconds', 'bytes_out', 'max_rss_kb', 'cpu_s', 'srv_s', 'target'
foreach ($r in $rows) {
    $target = ''
    if ($targets.ContainsKey($r.Name) -and $byName.ContainsKey($targets[$r.Name][0])) {
        $anchor = $byName[$targets[$r.Name][0]]
        $ratio = $r.Seconds / $anchor.Seconds
        $target = '{0}x {1} (goal <= {2}x): {3}' -f $ratio.ToString($(if ($r.Name -in $millisecondRows) { 'N3' } else { 'N2' })), $anchor.Name, $targets[$r.Name][1], ($(if ($ratio -le $targets[$r.Name][1]) { 'met' } else { 'NOT met' }))
    }
    if ($absolute.ContainsKey($r.Name)) { $target = 'goal <= {0} s: {1}' -f $absolute[$r.Name], $(if ($r.Seconds -le $absolute[$r.Name]) { 'met' } else { 'NOT met' }) }
    if ($r.PSObject.Properties['Runs']) { $target = ($target + " (median of $($r.Runs))").Trim() }
    "{0,-32}{1,10}{2,16}{3,12}{4,8}{5,8}  {6}" -f $r.Name, (Format-Time $r.Name $r.Seconds), $r.Bytes, $r.RssKb, $r.Cpu, $r.ServerCpu, $target
}

# ---- Object stores (issue 4): upload throughput of S3Store and AzureBlobStore into their local emulators against the
# file-system store (goal <= 1.3x its time) and against each emulator's own ceiling (the same bytes sent without the
# SDK), and the peak working set while one object streams (goal <= 256 MiB at 2 GiB: BENCH_STORE_MIB=2048).
# The emulators are single node processes on the same cores, so on a shared machine the figures are noisy.
function Invoke-StoreBenchmark {
    param([string]$Root, [int]$MiB)
    $project = Join-Path $Root 'tests/bench/StoreBench'
    & dotnet build $project -c Release --nologo -v q -clp:ErrorsOnly | Out-Null
    if ($LASTEXITCODE) { Write-Warning 'FAILED building StoreBench'; return }
    $dll = Get-ChildItem (Join-Path $project 'bin/Release') -Recurse -Filter StoreBench.dll | Select-Object -First 1
    Write-Host "== Object stores: $MiB MiB streamed into each store (tests/bench/StoreBench)"
    $lines = & dotnet $dll.FullName $MiB
    if ($LASTEXITCODE) { Write-Warning 'FAILED StoreBench'; return }
    $store = @{}
    foreach ($line in $lines) {
        if ($line.StartsWith('#')) { Write-Host $line; continue }
        $f = $line -split "`t"
        $store[$f[0]] = [pscustomobject]@{ Name = $f[0]; MiBps = [double]$f[1]; PeakMiB = $f[2] }
    }
    $goals = @{
        's3-store' = @('filesystem-store', 1.3, 's3rver-raw-multipart')
        'azure-blob-store' = @('filesystem-store', 1.3, 'azurite-raw-put')
    }
    # The fastest any client can be against each emulator: its plain PUT of the same bytes, without SDK, signing or
    # hashing. When even that is slower than 1.3x the file-system store, the goal cannot be met against that emulator.
    $reachable = @{ 's3-store' = 's3rver-raw-put'; 'azure-blob-store' = 'azurite-raw-put' }
    "{0,-24}{1,10}{2,10}  {3}" -f 'store', 'MiB/s', 'peak_MiB', 'target'
    foreach ($r in $store.Values | Sort-Object Name) {
        $target = ''
        if ($goals.ContainsKey($r.Name) -and $store.ContainsKey('filesystem-store')) {
            $g = $goals[$r.Name]
            $ratio = $store[$g[0]].MiBps / $r.MiBps
            $target = '{0:N2}x {1} time (goal <= {2}x): {3}' -f $ratio, $g[0], $g[1], $(if ($ratio -le $g[1]) { 'met' } else { 'NOT met' })
            if ($store.ContainsKey($g[2])) { $target += '; {0:P0} of the emulator ceiling {1}' -f ($r.MiBps / $store[$g[2]].MiBps), $g[2] }
            if ($store.ContainsKey($reachable[$r.Name])) {
                $best = $store[$g[0]].MiBps / $store[$reachable[$r.Name]].MiBps
                if ($best -gt $g[1]) { $target += '; unreachable here: even {0} takes {1:N2}x the file-system store''s time' -f $reachable[$r.Name], $best }
            }
            if ($r.PeakMiB -ne '-') { $target += '; memory {0}' -f $(if ([int]$r.PeakMiB -le 256) { 'met' } else { 'NOT met' }) }
        }
        "{0,-24}{1,10:N1}{2,10}  {3}" -f $r.Name, $r.MiBps, $r.PeakMiB, $target
    }
}
# Not when rows were picked with -Only: the store section takes minutes and is not a row.
if (-not $env:BENCH_SKIP_STORES -and -not $PSBoundParameters.ContainsKey('Only')) { Invoke-StoreBenchmark -Root $Root -MiB ([int]($env:BENCH_STORE_MIB ?? 500)) }
