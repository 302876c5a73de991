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

# The WAL stream's RPO under pgbench (goal: p99 <= 1 s asynchronous, and no growing lag).
$rpo = & (Join-Path $PSScriptRoot 'Measure-WalStreamRpo.ps1') -Root $Root -HostName $socket -Port $Port -WorkDir (Join-Path $WorkDir 'rpo')
Write-Host ("WAL stream under pgbench: {0} tps, {1} MiB/s of WAL, commit -> durable p50 {2} s, p99 {3} s, max {4} s; lag first 5 s {5} MiB, last 5 s {6} MiB" -f
    $rpo.Tps, $rpo.WalMiBPerSecond, $rpo.P50Seconds, $rpo.P99Seconds, $rpo.MaxSeconds, $rpo.LagFirst5sMiB, $rpo.LagLast5sMiB)
Add-Row 'pgbt-wal-stream-rpo-p99' $rpo.P99Seconds '-' '-'

if (-not $KeepCluster) { & bash (Join-Path $Root '../shared/bench/pgcluster.sh') stop $socket }

$byName = @{}; foreach ($r in $rows) { $byName[$r.Name] = $r }
$targets = @{
    'pgbt-plain-gzip' = @('seed-pg_dump-gzip', 0.5)
    'pgbt-plain-zstd' = @('pg_dump-plain-devnull', 1.15)
    'pgbt-plain-zstd-encrypted' = @('pgbt-plain-zstd', 1.10)
}
$absolute = @{ 'pgbt-import-module' = 0.5; 'pgbt-wal-stream-rpo-p99' = 1.0 }
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
