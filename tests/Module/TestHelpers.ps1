# Shared set-up for the module's Pester tests: the built module, and a real PostgreSQL cluster from the same
# harness the xunit tests use (tests/PgBackupTools.TestKit), stopped and removed in AfterAll.
$script:RepoRoot = Resolve-Path (Join-Path $PSScriptRoot '../..')
$script:ModulePath = Join-Path $RepoRoot 'out/PgBackupTools/PgBackupTools.psd1'
$script:TestKitPath = Get-ChildItem (Join-Path $RepoRoot 'tests/PgBackupTools.TestKit/bin') -Filter PgBackupTools.TestKit.dll -Recurse |
    Sort-Object LastWriteTime -Descending | Select-Object -First 1 -ExpandProperty FullName

function Start-TestCluster {
    Add-Type -Path $script:TestKitPath
    [PgBackupTools.TestKit.PgTestCluster]::Start()
}

function New-AuditDatabase {
    param($Cluster, [string]$Name = ('audit_' + [guid]::NewGuid().ToString('N').Substring(0, 8)), [int]$Rows = 2000)
    $Cluster.CreateDatabase($Name)
    $null = $Cluster.Psql("\set rows $Rows`n\i $(Join-Path $script:RepoRoot 'examples/sample-audit-database.sql')", $Name)
    $Name
}

function New-TestDirectory {
    $path = Join-Path ([IO.Path]::GetTempPath()) ('pgbt-pester-' + [guid]::NewGuid().ToString('N').Substring(0, 10))
    New-Item -ItemType Directory -Path $path | Select-Object -ExpandProperty FullName
}

# Waits until the cluster's archiver has archived the WAL file $Name (or a later one), as pg_stat_archiver says.
function Wait-WalArchived {
    param($Cluster, [string]$Name, [int]$TimeoutSeconds = 60)
    $deadline = (Get-Date).AddSeconds($TimeoutSeconds)
    while ([string]::CompareOrdinal($Cluster.Psql("SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver"), $Name) -lt 0) {
        if ((Get-Date) -gt $deadline) { throw "not archived: $Name; $(Get-Content $Cluster.LogFile -Tail 5)" }
        Start-Sleep -Milliseconds 200
    }
}

# Ends the current WAL segment (pg_switch_wal) and waits until it is archived; returns its name.
function Switch-WalAndWait {
    param($Cluster, [int]$TimeoutSeconds = 60)
    $last = $Cluster.Psql('SELECT pg_walfile_name(pg_current_wal_lsn())')
    $null = $Cluster.Psql('SELECT pg_switch_wal()')
    Wait-WalArchived -Cluster $Cluster -Name $last -TimeoutSeconds $TimeoutSeconds
    $last
}

# Parses Prometheus text exposition (format 0.0.4) strictly: every line a HELP/TYPE comment or a sample
# 'name{label="value",...} number', HELP and TYPE at most once per metric and before its samples. Throws on anything else.
function ConvertFrom-PrometheusText {
    param([Parameter(Mandatory)] [string]$Text)
    $name = '[a-zA-Z_:][a-zA-Z0-9_:]*'
    $label = '[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
    $sample = "^(?<name>$name)(?:\{(?<labels>(?:$label)(?:,$label)*)?\})? (?<value>[-+]?(?:\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|NaN|Inf))(?: -?\d+)?$"
    $typed = @{}; $helped = @{}; $seen = @{}
    if (-not $Text.EndsWith("`n")) { throw 'The exposition does not end with a newline.' }
    foreach ($line in $Text.TrimEnd("`n") -split "`n") {
        if ($line -match "^# HELP ($name) .+$") {
            if ($helped[$Matches[1]]++) { throw "HELP twice for $($Matches[1])" }; continue
        }
        if ($line -match "^# TYPE ($name) (counter|gauge|histogram|summary|untyped)$") {
            if ($typed[$Matches[1]] -or $seen[$Matches[1]]) { throw "TYPE twice or after samples for $($Matches[1])" }
            $typed[$Matches[1]] = $Matches[2]; continue
        }
        if ($line -notmatch $sample) { throw "Not a valid exposition line: '$line'" }
        $labels = [ordered]@{}
        if ($Matches['labels']) {
            foreach ($m in [regex]::Matches($Matches['labels'], '([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')) {
                $labels[$m.Groups[1].Value] = $m.Groups[2].Value -replace '\\n', "`n" -replace '\\"', '"' -replace '\\\\', '\'
            }
        }
        $seen[$Matches['name']] = $true
        [pscustomobject]@{ Name = $Matches['name']; Labels = $labels; Value = [double]::Parse($Matches['value'], [cultureinfo]::InvariantCulture); Type = $typed[$Matches['name']] }
    }
}

# One sample of parsed metrics by name and labels (every given label must match).
function Find-Metric {
    param($Metrics, [string]$Name, [hashtable]$Labels = @{})
    @($Metrics | Where-Object Name -eq $Name | Where-Object {
            $m = $_; -not @($Labels.Keys | Where-Object { $m.Labels[$_] -ne $Labels[$_] }).Count })
}
