<#
.SYNOPSIS
    RPO of the WAL stream under a steady pgbench load: seconds from a commit to its WAL being durable in the repository.
.DESCRIPTION
    Runs `pgbt-wal stream` (asynchronous, --flush-interval -FlushIntervalSeconds, default 0.5 s) into a fresh repository while pgbench writes for
    -Seconds. A sampler records the server's WAL position every 100 ms (clock_timestamp(), pg_current_wal_lsn()); the
    stream's wal/main/stream.json is polled every 20 ms for its durable position. For each sample, the latency is the
    time until the durable position reached it. Prints p50, p99, max, the WAL rate, and the lag of the last second
    against the first (a growing lag means the stream cannot keep up). Returns one object per measure.
.EXAMPLE
    ./Measure-WalStreamRpo.ps1 -Root . -HostName /tmp/pgbt-anchors/pg -Port 55440
#>
param(
    [Parameter(Mandatory)] [string]$Root,
    [Parameter(Mandatory)] [string]$HostName,
    [Parameter(Mandatory)] [int]$Port,
    [string]$Username = 'postgres',
    [int]$Seconds = 30,
    [int]$Clients = 4,
    [double]$FlushIntervalSeconds = 0.5,
    [string]$WorkDir = (Join-Path ([IO.Path]::GetTempPath()) ('pgbt-rpo-' + [guid]::NewGuid().ToString('N').Substring(0, 8)))
)
$ErrorActionPreference = 'Stop'
$bin = Join-Path $Root 'out/PgBackupTools/bin/pgbt-wal'
$module = Join-Path $Root 'out/PgBackupTools/PgBackupTools.psd1'
$pgbin = (Get-ChildItem /usr/lib/postgresql/*/bin/pgbench | Sort-Object FullName -Descending | Select-Object -First 1).DirectoryName
$repo = Join-Path $WorkDir 'repo'
New-Item -ItemType Directory -Force $WorkDir | Out-Null
$conn = @('-h', $HostName, '-p', $Port, '-U', $Username)
function ConvertFrom-Lsn([string]$Text) { $hi, $lo = $Text.Trim().Split('/'); ([Convert]::ToUInt64($hi, 16) -shl 32) + [Convert]::ToUInt64($lo, 16) }

# A repository (the logical backup of an empty database creates it), and a pgbench database.
& (Join-Path $PSHOME 'pwsh') -NoProfile -NonInteractive -Command "Import-Module '$module'; `$null = Invoke-PgBackup -Repository '$repo' -Database postgres -HostName '$HostName' -Port $Port -Username $Username"
& "$pgbin/psql" @conn -XAtq -d postgres -c 'DROP DATABASE IF EXISTS pgbt_rpo' -c 'CREATE DATABASE pgbt_rpo' | Out-Null
& "$pgbin/pgbench" @conn -i -q -s 5 pgbt_rpo 2>&1 | Out-Null

$stateJson = Join-Path $repo 'wal/main/stream.json'
$stream = Start-Process $bin -ArgumentList @('stream', '--repo', $repo, '--host', $HostName, '--port', $Port, '--user', $Username, '--flush-interval', $FlushIntervalSeconds.ToString([cultureinfo]::InvariantCulture)) -PassThru `
    -RedirectStandardError (Join-Path $WorkDir 'stream.err') -RedirectStandardOutput (Join-Path $WorkDir 'stream.out') -Environment @{ PGBACKUPTOOLS_STATE_DIR = (Join-Path $WorkDir 'state') }
try {
    $deadline = (Get-Date).AddSeconds(60)
    while (-not (Test-Path $stateJson)) { if ((Get-Date) -gt $deadline -or $stream.HasExited) { throw "the stream did not start: $(Get-Content -Raw (Join-Path $WorkDir 'stream.err'))" }; Start-Sleep -Milliseconds 100 }

    $samplesFile = Join-Path $WorkDir 'samples.txt'
    $sampler = Start-Process "$pgbin/psql" -ArgumentList ($conn + @('-XAtq', '-F', '|', '-d', 'postgres', '-f', '-')) -PassThru -RedirectStandardOutput $samplesFile `
        -RedirectStandardInput (New-Item (Join-Path $WorkDir 'sampler.sql') -Value "SELECT extract(epoch from clock_timestamp()), pg_current_wal_lsn() \watch 0.1`n" -Force).FullName
    $load = Start-Process "$pgbin/pgbench" -ArgumentList ($conn + @('-c', $Clients, '-j', 2, '-T', $Seconds, '-n', 'pgbt_rpo')) -PassThru `
        -RedirectStandardOutput (Join-Path $WorkDir 'pgbench.out') -RedirectStandardError (Join-Path $WorkDir 'pgbench.err')
    $durable = [System.Collections.Generic.List[object]]::new()
    $stop = (Get-Date).AddSeconds($Seconds + 3)
    while ((Get-Date) -lt $stop) {
        try { $durable.Add([pscustomobject]@{ T = [DateTimeOffset]::UtcNow.ToUnixTimeMilliseconds() / 1000.0; Lsn = ConvertFrom-Lsn (Get-Content -Raw $stateJson | ConvertFrom-Json).flushLsn }) } catch { }
        Start-Sleep -Milliseconds 20
    }
    $load.WaitForExit()
    Stop-Process -Id $sampler.Id
} finally {
    if (-not $stream.HasExited) { & kill -TERM $stream.Id; $stream.WaitForExit(30000) | Out-Null }
}

$samples = Get-Content $samplesFile | Where-Object { $_ -match '^\d' } | ForEach-Object { $t, $l = $_ -split '\|'; [pscustomobject]@{ T = [double]$t; Lsn = ConvertFrom-Lsn $l } }
$latencies = foreach ($s in $samples) {
    $hit = $durable | Where-Object { $_.T -ge $s.T -and $_.Lsn -ge $s.Lsn } | Select-Object -First 1
    if ($hit) { $hit.T - $s.T }
}
$latencies = @($latencies | Sort-Object)
if ($latencies.Count -eq 0) { throw 'no sample became durable' }
$p = { param($q) $latencies[[math]::Min($latencies.Count - 1, [math]::Floor($q * $latencies.Count))] }
$walRate = ($samples[-1].Lsn - $samples[0].Lsn) / ($samples[-1].T - $samples[0].T) / 1MB
$lagOf = { param($slice) ($slice | ForEach-Object { $s = $_; $d = $durable | Where-Object { $_.T -le $s.T } | Select-Object -Last 1; if ($d) { [double]($s.Lsn - $d.Lsn) } } | Measure-Object -Average).Average / 1MB }
$tps = (Select-String -Path (Join-Path $WorkDir 'pgbench.out') -Pattern 'tps = ([\d.]+)').Matches | Select-Object -First 1 | ForEach-Object { $_.Groups[1].Value }
[pscustomobject]@{
    Samples = $latencies.Count; Unconfirmed = $samples.Count - $latencies.Count
    P50Seconds = [math]::Round((& $p 0.5), 3); P99Seconds = [math]::Round((& $p 0.99), 3); MaxSeconds = [math]::Round($latencies[-1], 3)
    WalMiBPerSecond = [math]::Round($walRate, 2); Tps = $tps
    LagFirst5sMiB = [math]::Round((& $lagOf ($samples | Select-Object -Skip 10 -First 50)), 2); LagLast5sMiB = [math]::Round((& $lagOf ($samples | Select-Object -Last 50)), 2)
}
Remove-Item -Recurse -Force $WorkDir -ErrorAction SilentlyContinue
