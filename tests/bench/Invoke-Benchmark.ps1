<#
.SYNOPSIS
    Measures PgBackupTools side by side with the anchors of ../shared/bench/anchors.sh on the same cluster.
.DESCRIPTION
    Runs the anchors (pg_dump alone, the seed's pg_dump | gzip, ...) on the audit workload, then PgBackupTools'
    backups as a user runs them (a new pwsh, Import-Module, Invoke-PgBackup), and a test restore. Prints one
    tab-separated table: name, seconds, bytes out, peak RSS (KiB), and the ratio to the anchor each target names.
#>
param(
    [Parameter(Mandatory)] [string]$Root,
    [int]$Scale = 20,
    [string]$WorkDir = '/tmp/pgbt-anchors',
    [int]$Port = 55440,
    [switch]$KeepCluster
)
$ErrorActionPreference = 'Stop'
$anchors = Join-Path $Root '../shared/bench/anchors.sh'
if (-not (Test-Path $anchors)) { throw "The anchors are missing: $anchors (CI and developers have ../shared beside the repository)." }
foreach ($tool in '/usr/bin/time', 'bc') {
    if (-not (Get-Command $tool -ErrorAction SilentlyContinue)) { throw "$tool is needed: apt-get install time bc" }
}

$rows = [System.Collections.Generic.List[object]]::new()
function Add-Row($Name, $Seconds, $Bytes, $RssKb) { $rows.Add([pscustomobject]@{ Name = $Name; Seconds = [double]$Seconds; Bytes = $Bytes; RssKb = $RssKb }) }

Write-Host "== anchors.sh (audit workload, scale $Scale) in $WorkDir"
$env:PORT = $Port
$env:WORKLOAD = 'audit'
$env:ONLY = $env:BENCH_ANCHORS ?? '^(pg_dump-plain-devnull|seed-pg_dump-gzip|pg_dump-plain-zstd|pg_dump-custom)$'
$anchorLines = & bash $anchors $Scale $WorkDir
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

function Measure-Pwsh($Name, $Script) {
    if (Test-Path $repo) { Remove-Item -Recurse -Force $repo }
    $rss = Join-Path $WorkDir 'pgbt.rss'
    $full = "`$ErrorActionPreference='Stop'; `$ProgressPreference='SilentlyContinue'; Import-Module '$module'; $Script"
    $clock = [Diagnostics.Stopwatch]::StartNew()
    & /usr/bin/time -f '%M' -o $rss $pwsh -NoProfile -NonInteractive -Command $full | Out-Null
    if ($LASTEXITCODE) { Write-Warning "FAILED $Name"; return }
    $seconds = $clock.Elapsed.TotalSeconds
    $bytes = (Get-ChildItem $repo -Recurse -File | Measure-Object Length -Sum).Sum
    Add-Row $Name ([math]::Round($seconds, 2)) $bytes (Get-Content $rss | Select-Object -Last 1)
}

$conn = "-HostName '$socket' -Port $Port -Username postgres"
Write-Host '== PgBackupTools'
Measure-Pwsh 'pgbt-plain-gzip' "Invoke-PgBackup -Repository '$repo' -Database bench $conn | Out-Null"
Measure-Pwsh 'pgbt-plain-zstd' "Invoke-PgBackup -Repository '$repo' -Database bench -Compression Zstd $conn | Out-Null"
$env:PGBACKUPTOOLS_PASSPHRASE = 'bench-passphrase-' + [guid]::NewGuid()
Measure-Pwsh 'pgbt-plain-zstd-encrypted' "Invoke-PgBackup -Repository '$repo' -Database bench -Compression Zstd $conn | Out-Null"
Remove-Item Env:PGBACKUPTOOLS_PASSPHRASE
Measure-Pwsh 'pgbt-plain-zstd+test-restore' "Invoke-PgBackup -Repository '$repo' -Database bench -Compression Zstd $conn | Test-PgBackup -Restore $conn | ForEach-Object { if (-not `$_.Passed) { throw 'test restore failed' } }"
# Import-Module alone, inside a fresh pwsh (goal <= 0.5 s): the median of five.
$imports = 1..5 | ForEach-Object { [double](& $pwsh -NoProfile -NonInteractive -Command "(Measure-Command { Import-Module '$module' }).TotalSeconds") } | Sort-Object
Add-Row 'pgbt-import-module' ([math]::Round($imports[2], 3)) '-' '-'

if (-not $KeepCluster) { & bash (Join-Path $Root '../shared/bench/pgcluster.sh') stop $socket }

$byName = @{}; foreach ($r in $rows) { $byName[$r.Name] = $r }
$targets = @{
    'pgbt-plain-gzip' = @('seed-pg_dump-gzip', 0.5)
    'pgbt-plain-zstd' = @('pg_dump-plain-devnull', 1.15)
    'pgbt-plain-zstd-encrypted' = @('pgbt-plain-zstd', 1.10)
}
$absolute = @{ 'pgbt-import-module' = 0.5 }
Write-Host ''
"{0,-32}{1,10}{2,16}{3,12}  {4}" -f 'name', 'seconds', 'bytes_out', 'max_rss_kb', 'target'
foreach ($r in $rows) {
    $target = ''
    if ($targets.ContainsKey($r.Name) -and $byName.ContainsKey($targets[$r.Name][0])) {
        $anchor = $byName[$targets[$r.Name][0]]
        $ratio = $r.Seconds / $anchor.Seconds
        $target = '{0:N2}x {1} (goal <= {2}x): {3}' -f $ratio, $anchor.Name, $targets[$r.Name][1], ($(if ($ratio -le $targets[$r.Name][1]) { 'met' } else { 'NOT met' }))
    }
    if ($absolute.ContainsKey($r.Name)) { $target = 'goal <= {0} s: {1}' -f $absolute[$r.Name], $(if ($r.Seconds -le $absolute[$r.Name]) { 'met' } else { 'NOT met' }) }
    "{0,-32}{1,10:N2}{2,16}{3,12}  {4}" -f $r.Name, $r.Seconds, $r.Bytes, $r.RssKb, $target
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
    "{0,-24}{1,10}{2,10}  {3}" -f 'store', 'MiB/s', 'peak_MiB', 'target'
    foreach ($r in $store.Values | Sort-Object Name) {
        $target = ''
        if ($goals.ContainsKey($r.Name) -and $store.ContainsKey('filesystem-store')) {
            $g = $goals[$r.Name]
            $ratio = $store[$g[0]].MiBps / $r.MiBps
            $target = '{0:N2}x {1} time (goal <= {2}x): {3}' -f $ratio, $g[0], $g[1], $(if ($ratio -le $g[1]) { 'met' } else { 'NOT met' })
            if ($store.ContainsKey($g[2])) { $target += '; {0:P0} of the emulator ceiling {1}' -f ($r.MiBps / $store[$g[2]].MiBps), $g[2] }
            if ($r.PeakMiB -ne '-') { $target += '; memory {0}' -f $(if ([int]$r.PeakMiB -le 256) { 'met' } else { 'NOT met' }) }
        }
        "{0,-24}{1,10:N1}{2,10}  {3}" -f $r.Name, $r.MiBps, $r.PeakMiB, $target
    }
}
if (-not $env:BENCH_SKIP_STORES) { Invoke-StoreBenchmark -Root $Root -MiB ([int]($env:BENCH_STORE_MIB ?? 500)) }
