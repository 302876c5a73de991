#Requires -Version 7.4
# Encrypted repositories and single-file encryption through the module, against a real PostgreSQL cluster.
# Run after './build.ps1 Build' (Release): Invoke-Pester tests/Module/Encryption.Tests.ps1

BeforeAll {
    $root = Resolve-Path (Join-Path $PSScriptRoot '../..')
    Import-Module (Join-Path $root 'out/PgBackupTools/PgBackupTools.psd1') -Force
    Add-Type -Path (Join-Path $root 'tests/PgBackupTools.TestKit/bin/Release/net8.0/PgBackupTools.TestKit.dll')
    $script:cluster = [PgBackupTools.TestKit.PgTestCluster]::Start()
    $script:conn = @{ HostName = $cluster.Host; Port = $cluster.Port; Username = 'postgres' }
    $script:sample = Join-Path $root 'examples/sample-audit-database.sql'
    $script:secret = 'pester-pass-5e1b9c'
    $script:pass = ConvertTo-SecureString -AsPlainText $secret -Force
    $script:wrong = ConvertTo-SecureString -AsPlainText 'pester-wrong-77d0' -Force

    function New-AuditDatabase([int]$Rows = 2000) {
        $name = 'audit_' + [guid]::NewGuid().ToString('N').Substring(0, 8)
        $cluster.CreateDatabase($name)
        $null = $cluster.Psql("\set rows $Rows`n\i $sample", $name)
        $name
    }

    # name -> SHA-256 of every file and folder under a directory: "byte for byte unchanged" made checkable.
    function Get-TreeSnapshot([string]$Path) {
        Get-ChildItem -LiteralPath $Path -Recurse -Force | Sort-Object FullName | ForEach-Object {
            $hash = if ($_.PSIsContainer) { 'dir' } else { (Get-FileHash -LiteralPath $_.FullName -Algorithm SHA256).Hash }
            "$([IO.Path]::GetRelativePath($Path, $_.FullName))=$hash"
        } | Join-String -Separator "`n"
    }
}

AfterAll {
    if ($script:cluster) { $script:cluster.Dispose() }
}

Describe 'An encrypted repository' {
    BeforeAll {
        $script:db = New-AuditDatabase
        $script:repo = Join-Path $TestDrive 'repo'
        $script:backup = Invoke-PgBackup -Repository $repo -Database $db -Compression Zstd -Passphrase $pass @conn -ErrorAction Stop
    }

    It 'stores the dump encrypted and records it in the manifest' {
        $backup.Encryption | Should -Be 'aes-256-gcm'
        $backup.Files[0].Name | Should -Be 'database.sql.zst.enc'
        $backup.Files[0].Encrypted | Should -BeTrue
        $stored = Join-Path $repo "backups/main/$($backup.Id)/database.sql.zst.enc"
        [Text.Encoding]::ASCII.GetString([IO.File]::ReadAllBytes($stored), 0, 8) | Should -Be 'PGBT-ENC'
        Get-Content -Raw (Join-Path $repo 'repository.json') | Should -Match '"keyCheck"'
    }

    It 'passes Test-PgBackup -Restore when piped with the passphrase' {
        $result = Invoke-PgBackup -Repository $repo -Database $db -Format Custom -Passphrase $pass @conn -ErrorAction Stop |
            Test-PgBackup -Restore -Passphrase $pass @conn -ErrorAction Stop
        $result.Passed | Should -BeTrue
        $result.Restored | Should -BeTrue
        ($result.Checks | Where-Object { $_.Kind -eq 'RowCount' -and $_.Name -eq 'public.audit_events' }).Actual | Should -Be '2000'

        $plain = Get-PgBackup -Repository $repo -Id $backup.Id | Test-PgBackup -Restore -Passphrase $pass @conn -ErrorAction Stop
        $plain.Passed | Should -BeTrue
    }

    It 'lists without the passphrase, but refuses to test or restore without it, saying how to give it' {
        (Get-PgBackup -Repository $repo -Id $backup.Id).Id | Should -Be $backup.Id
        $err = $null
        $null = Get-PgBackup -Repository $repo -Id $backup.Id | Test-PgBackup @conn -ErrorVariable err -ErrorAction SilentlyContinue
        $err | Should -HaveCount 1
        $err[0].Exception.Message | Should -Match '-Passphrase'
        $err[0].Exception.Message | Should -Match 'PGBACKUPTOOLS_PASSPHRASE'
    }

    It 'refuses a wrong passphrase with a clear SecurityError and writes nothing' {
        $before = Get-TreeSnapshot $repo
        $err = $null
        { Invoke-PgBackup -Repository $repo -Database $db -Passphrase $wrong @conn -ErrorAction Stop } |
            Should -Throw -ExpectedMessage '*does not match*Nothing was read or written*'
        $null = Get-PgBackup -Repository $repo -Id $backup.Id | Restore-PgDatabase -TargetDatabase "$($db)_wrong" -Force -Passphrase $wrong @conn -ErrorVariable err -ErrorAction SilentlyContinue
        $err | Should -HaveCount 1
        $err[0].CategoryInfo.Category | Should -Be 'SecurityError'
        $err[0].Exception.Message | Should -Not -Match 'pester-wrong'
        Get-TreeSnapshot $repo | Should -Be $before
        $cluster.Psql("SELECT count(*) FROM pg_database WHERE datname = '$($db)_wrong'") | Should -Be '0'
    }

    It 'takes the passphrase from -PassphraseVariable and -PassphraseFile too' {
        $env:PGBT_PESTER_PASS = $secret
        try {
            (Invoke-PgBackup -Repository $repo -Database $db -PassphraseVariable PGBT_PESTER_PASS @conn -ErrorAction Stop).Encryption | Should -Be 'aes-256-gcm'
        }
        finally { Remove-Item Env:PGBT_PESTER_PASS }
        $keyFile = Join-Path $TestDrive 'key'
        Set-Content -LiteralPath $keyFile -Value $secret -NoNewline
        if (-not $IsWindows) { chmod 600 $keyFile }
        (Get-PgBackup -Repository $repo -Id $backup.Id | Test-PgBackup -PassphraseFile $keyFile @conn -ErrorAction Stop).Passed | Should -BeTrue
    }

    It 'never puts the passphrase on any command line while it backs up' {
        $bigDb = New-AuditDatabase -Rows 50000
        $secretFile = Join-Path $TestDrive 'secret'; Set-Content -LiteralPath $secretFile -Value $secret -NoNewline
        $seen = Join-Path $TestDrive 'seen'; $stop = Join-Path $TestDrive 'stop'
        $watch = Join-Path $TestDrive 'watch.sh'
        Set-Content -LiteralPath $watch -Value @'
exec 2>/dev/null; secret=$(cat "$1"); out="$2"; stop="$3"; : > "$out"
while [ ! -e "$stop" ]; do
  for f in /proc/[0-9]*/cmdline; do
    c=$(< "$f") 2>/dev/null || continue
    case "$c" in *pg_dump*) echo "SEEN pg_dump" >> "$out";; esac
    case "$c" in *"$secret"*) echo "LEAK $f" >> "$out";; esac
  done
  [ -e "$out.ready" ] || : > "$out.ready"
done
'@
        $watcher = Start-Process bash -ArgumentList $watch, $secretFile, $seen, $stop -PassThru
        try {
            # Back up only once the watcher has scanned every process once (a fixed 300 ms sleep races bash's start-up on a busy machine).
            $ready = (Get-Date).AddSeconds(60)
            while (-not (Test-Path "$seen.ready")) {
                if ((Get-Date) -gt $ready -or $watcher.HasExited) { throw 'the process watcher did not start' }
                Start-Sleep -Milliseconds 50
            }
            $null = Invoke-PgBackup -Repository $repo -Database $bigDb -Passphrase $pass @conn -ErrorAction Stop
        }
        finally {
            Set-Content -LiteralPath $stop -Value ''
            $watcher | Wait-Process -Timeout 20
        }
        $lines = Get-Content -LiteralPath $seen
        $lines | Should -Contain 'SEEN pg_dump'   # the watcher really saw pg_dump run
        $lines | Where-Object { $_ -like 'LEAK*' } | Should -BeNullOrEmpty
    }
}

Describe 'Protect-PgBackupFile and Unprotect-PgBackupFile' {
    BeforeEach {
        $script:dir = Join-Path $TestDrive ([guid]::NewGuid().ToString('N'))
        $null = New-Item -ItemType Directory $dir
        $script:original = Join-Path $dir 'audit.sql.gz'
        $bytes = [byte[]]::new(3MB + 17); [Random]::new(42).NextBytes($bytes)
        [IO.File]::WriteAllBytes($original, $bytes)
    }

    It 'round-trips a file to the same bytes, from Get-ChildItem through the pipeline' {
        $protected = Get-ChildItem (Join-Path $dir '*.sql.gz') | Protect-PgBackupFile -Passphrase $pass -ErrorAction Stop
        $protected | Should -BeOfType [IO.FileInfo]
        $protected.FullName | Should -Be "$original.enc"
        # As Get-Item writes it, so the FileSystem view shows its mode and size rather than blanks.
        $protected.PSPath | Should -Not -BeNullOrEmpty
        ($protected | Format-Table | Out-String -Width 200) | Should -Match ("\s{0}\s+{1}" -f $protected.Length, [regex]::Escape($protected.Name))
        [Text.Encoding]::ASCII.GetString([IO.File]::ReadAllBytes($protected.FullName), 0, 8) | Should -Be 'PGBT-PBE'

        $restored = Join-Path $dir 'restored.sql.gz'
        $out = Unprotect-PgBackupFile -Path $protected.FullName -Destination $restored -Passphrase $pass -ErrorAction Stop
        $out.FullName | Should -Be $restored
        (Get-FileHash $restored).Hash | Should -Be (Get-FileHash $original).Hash

        Remove-Item $original
        $protected | Unprotect-PgBackupFile -Passphrase $pass -ErrorAction Stop | Out-Null
        (Get-FileHash $original).Hash | Should -Be (Get-FileHash $restored).Hash
    }

    It 'writes nothing with -WhatIf' {
        $before = Get-TreeSnapshot $dir
        Protect-PgBackupFile -Path $original -Passphrase $pass -WhatIf
        Get-TreeSnapshot $dir | Should -Be $before
        Test-Path "$original.enc" | Should -BeFalse
    }

    It 'refuses an existing destination without -Force and replaces it with -Force' {
        Set-Content -LiteralPath "$original.enc" -Value 'keep me'
        $err = $null
        $null = Protect-PgBackupFile -Path $original -Passphrase $pass -ErrorVariable err -ErrorAction SilentlyContinue
        $err | Should -HaveCount 1
        $err[0].CategoryInfo.Category | Should -Be 'ResourceExists'
        Get-Content -LiteralPath "$original.enc" | Should -Be 'keep me'

        Protect-PgBackupFile -Path $original -Passphrase $pass -Force -ErrorAction Stop | Out-Null
        [Text.Encoding]::ASCII.GetString([IO.File]::ReadAllBytes("$original.enc"), 0, 8) | Should -Be 'PGBT-PBE'
    }

    It 'refuses a wrong passphrase before writing anything' {
        $protected = Protect-PgBackupFile -Path $original -Passphrase $pass -ErrorAction Stop
        $target = Join-Path $dir 'out.sql.gz'
        $err = $null
        $null = Unprotect-PgBackupFile -Path $protected.FullName -Destination $target -Passphrase $wrong -ErrorVariable err -ErrorAction SilentlyContinue
        $err | Should -HaveCount 1
        $err[0].CategoryInfo.Category | Should -Be 'SecurityError'
        $err[0].Exception.Message | Should -Match "does not match the key check of .*audit\.sql\.gz\.enc: it is not the passphrase the file was encrypted with"
        $err[0].Exception.Message | Should -Not -Match 'repository'
        Test-Path $target | Should -BeFalse
        (Get-ChildItem $dir -Force).Name | Sort-Object | Should -Be @('audit.sql.gz', 'audit.sql.gz.enc')
    }

    It 'refuses a file that was altered, naming it, and leaves no output' {
        $protected = Protect-PgBackupFile -Path $original -Passphrase $pass -ErrorAction Stop
        $bytes = [IO.File]::ReadAllBytes($protected.FullName); $bytes[$bytes.Length / 2] = $bytes[$bytes.Length / 2] -bxor 1
        [IO.File]::WriteAllBytes($protected.FullName, $bytes)
        Remove-Item $original
        $err = $null
        $null = Unprotect-PgBackupFile -Path $protected.FullName -Passphrase $pass -ErrorVariable err -ErrorAction SilentlyContinue
        $err | Should -HaveCount 1
        $err[0].Exception.Message | Should -Match ([regex]::Escape($protected.FullName))
        Test-Path $original | Should -BeFalse
    }
}
