#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Builds, tests, packages, demonstrates and benchmarks PgBackupTools.
.DESCRIPTION
    Build    compiles the module into out/PgBackupTools (import it with Import-Module ./out/PgBackupTools).
    Test     builds, then runs the xunit tests of the core and the Pester tests of the module, each against real
             PostgreSQL clusters, and ends with one line 'N passed, N failed'.
    Package  writes the versioned module folder out/package/PgBackupTools/<version> and a zip of it.
    Demo     starts a throwaway PostgreSQL with a sample audit database, backs it up into out/demo-repository,
             lists the backup, proves it with a test restore, and stops the server.
    Bench    runs ../shared/bench/anchors.sh and PgBackupTools side by side on the same cluster and prints a table.
.EXAMPLE
    dotnet tool restore; dotnet pwsh ./build.ps1 Demo
#>
[CmdletBinding()]
param(
    [Parameter(Position = 0)]
    [ValidateSet('Build', 'Test', 'Package', 'Demo', 'Bench')]
    [string]$Task = 'Build',
    [ValidateSet('Debug', 'Release')]
    [string]$Configuration = 'Release',
    # Bench: the audit workload's scale (100,000 rows, about 30 MB, a unit).
    [int]$Scale = 20
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
$root = $PSScriptRoot
$out = Join-Path $root 'out'
$moduleOut = Join-Path $out 'PgBackupTools'

function Invoke-Native {
    param([string]$Command, [string[]]$Arguments)
    & $Command @Arguments
    if ($LASTEXITCODE -ne 0) { throw "$Command $($Arguments -join ' ') failed with exit code $LASTEXITCODE" }
}

function Invoke-Build {
    Invoke-Native dotnet @('build', (Join-Path $root 'PgBackupTools.sln'), '-c', $Configuration, '--nologo', '-v', 'q', '-clp:ErrorsOnly')
    if (Test-Path $moduleOut) { Remove-Item -Recurse -Force $moduleOut }
    $dependencies = Join-Path $moduleOut 'dependencies'
    Invoke-Native dotnet @('publish', (Join-Path $root 'src/PgBackupTools/PgBackupTools.csproj'), '-c', $Configuration, '--nologo', '-v', 'q', '-clp:ErrorsOnly', '-o', $dependencies)
    Get-ChildItem $dependencies -Filter '*.pdb' | Remove-Item
    # Only the cmdlets and the types they take and write stay beside the manifest; its dependencies load in a private AssemblyLoadContext
    # (src/PgBackupTools/Infrastructure/ModuleInitializer.cs), so they never clash with other modules' versions.
    Move-Item (Join-Path $dependencies 'PgBackupTools.dll'), (Join-Path $dependencies 'PgBackupTools.Model.dll') $moduleOut
    Remove-Item (Join-Path $dependencies 'PgBackupTools.deps.json')
    # pgbt-wal, the archive_command/restore_command entry point: Native AOT (milliseconds to start) into bin/.
    $walOut = Join-Path $moduleOut 'bin'
    Invoke-Native dotnet @('publish', (Join-Path $root 'src/PgBackupTools.Wal/PgBackupTools.Wal.csproj'), '-c', $Configuration, '--nologo', '-v', 'q', '-clp:ErrorsOnly', '-o', $walOut)
    Get-ChildItem $walOut -Include '*.pdb', '*.dbg' -Recurse | Remove-Item
    Copy-Item (Join-Path $root 'PgBackupTools.psd1') $moduleOut
    Copy-Item (Join-Path $root 'module/*') $moduleOut -Recurse -Exclude 'help'
    # The help is generated in a child process so this session never loads the module's assemblies.
    $pwsh = Join-Path $PSHOME 'pwsh'
    Invoke-Native $pwsh @('-NoProfile', '-NonInteractive', '-File', (Join-Path $root 'tools/New-ModuleHelp.ps1'),
        '-ModuleManifest', (Join-Path $moduleOut 'PgBackupTools.psd1'), '-HelpSource', (Join-Path $root 'module/help'),
        '-OutFile', (Join-Path $moduleOut 'en-US/PgBackupTools.dll-Help.xml'))
    Write-Host "Module built: $moduleOut"
}

function Import-Pester {
    $pester = Get-ChildItem (Join-Path $root 'tools/packages/pester') -Filter Pester.psd1 -Recurse -ErrorAction SilentlyContinue | Select-Object -First 1
    if (-not $pester -or -not (Test-Path (Join-Path $root 'tools/packages/npgsql'))) {
        Invoke-Native dotnet @('restore', (Join-Path $root 'tools/tools.proj'), '--nologo', '-v', 'q')
        $pester = Get-ChildItem (Join-Path $root 'tools/packages/pester') -Filter Pester.psd1 -Recurse | Select-Object -First 1
    }
    Import-Module $pester.FullName -Force
}

function Invoke-Test {
    Invoke-Build
    $results = Join-Path $out 'test-results'
    if (Test-Path $results) { Remove-Item -Recurse -Force $results }
    New-Item -ItemType Directory -Force $results | Out-Null

    Write-Host '== xunit: the core against real PostgreSQL clusters'
    & dotnet test (Join-Path $root 'tests/PgBackupTools.Core.Tests') -c $Configuration --no-build --nologo `
        --logger 'console;verbosity=normal' --logger 'trx;LogFileName=core.trx' --results-directory $results
    $trx = [xml](Get-Content (Join-Path $results 'core.trx') -Raw)
    $counters = $trx.TestRun.ResultSummary.Counters
    $xunitPassed = [int]$counters.passed
    $xunitFailed = [int]$counters.failed + [int]$counters.error + [int]$counters.timeout + [int]$counters.aborted

    Write-Host '== Pester: the module'
    Import-Pester
    $config = New-PesterConfiguration
    $config.Run.Path = Join-Path $root 'tests/Module'
    $config.Run.PassThru = $true
    $config.Output.Verbosity = 'Detailed'
    $pester = Invoke-Pester -Configuration $config
    $pesterFailed = $pester.FailedCount + $pester.FailedBlocksCount + $pester.FailedContainersCount

    $passed = $xunitPassed + $pester.PassedCount
    $failed = $xunitFailed + $pesterFailed
    Write-Host "xunit: $xunitPassed passed, $xunitFailed failed; Pester: $($pester.PassedCount) passed, $pesterFailed failed"
    Write-Host "$passed passed, $failed failed"
    if ($failed -gt 0 -or $passed -eq 0) { exit 1 }
}

function Invoke-Package {
    Invoke-Build
    $version = (Import-PowerShellDataFile (Join-Path $root 'PgBackupTools.psd1')).ModuleVersion
    $packageRoot = Join-Path $out 'package'
    if (Test-Path $packageRoot) { Remove-Item -Recurse -Force $packageRoot }
    $target = Join-Path $packageRoot "PgBackupTools/$version"
    New-Item -ItemType Directory -Force $target | Out-Null
    Copy-Item (Join-Path $moduleOut '*') $target -Recurse
    # Azure Automation refuses modules with paths of 140 characters or more.
    $long = Get-ChildItem $packageRoot -Recurse -File | Where-Object { [IO.Path]::GetRelativePath($packageRoot, $_.FullName).Length -ge 140 }
    if ($long) { throw "Paths too long for Azure Automation: $($long.FullName -join ', ')" }
    $zip = Join-Path $out "PgBackupTools-$version.zip"
    if (Test-Path $zip) { Remove-Item $zip }
    # Azure Automation imports a zip whose top folder is the module name.
    Compress-Archive -Path (Join-Path $packageRoot 'PgBackupTools') -DestinationPath $zip
    Write-Host "Package: $target"
    Write-Host "Zip:     $zip"
}

function Invoke-Demo {
    Invoke-Build
    Add-Type -Path (Join-Path $root "tests/PgBackupTools.TestKit/bin/$Configuration/net8.0/PgBackupTools.TestKit.dll")
    Import-Module (Join-Path $moduleOut 'PgBackupTools.psd1') -Force
    $repository = Join-Path $out 'demo-repository'
    Write-Host '== Starting a throwaway PostgreSQL cluster'
    $cluster = [PgBackupTools.TestKit.PgTestCluster]::Start()
    try {
        $cluster.CreateDatabase('audit')
        Write-Host "== Loading the sample audit database (checker_config, whitelist_rules, audit_events) on port $($cluster.Port)"
        $cluster.Psql("\set rows 50000`n\i $(Join-Path $root 'examples/sample-audit-database.sql')", 'audit') | Out-Null
        $server = @{ HostName = $cluster.Host; Port = $cluster.Port; Username = 'postgres' }

        Write-Host "== Invoke-PgBackup -Repository $repository -Database audit"
        $backup = Invoke-PgBackup -Repository $repository -Database audit @server
        $backup | Format-List

        Write-Host "== Get-PgBackup -Repository $repository"
        Get-PgBackup -Repository $repository | Format-Table

        Write-Host '== Test-PgBackup -Restore (restores into a scratch database, compares row counts, drops it)'
        $test = $backup | Test-PgBackup -Restore -Query 'SELECT count(*) > 0 FROM audit_events' @server
        $test | Format-Table
        $test.Checks | Format-Table
        if (-not $test.Passed) { throw 'The demo backup failed its test restore.' }
    }
    finally {
        Write-Host '== Stopping the throwaway cluster'
        $cluster.Dispose()
    }
}

function Invoke-Bench {
    Invoke-Build
    & (Join-Path $root 'tests/bench/Invoke-Benchmark.ps1') -Root $root -Scale $Scale
    if ($LASTEXITCODE) { exit $LASTEXITCODE }
}

switch ($Task) {
    'Build' { Invoke-Build }
    'Test' { Invoke-Test }
    'Package' { Invoke-Package }
    'Demo' { Invoke-Demo }
    'Bench' { Invoke-Bench }
}
