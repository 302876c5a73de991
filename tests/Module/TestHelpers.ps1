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
