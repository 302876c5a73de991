# WAL archiving from the module: Enable-PgWalArchiving points a real cluster at the Native AOT pgbt-wal entry point,
# PostgreSQL archives through it, and the cmdlets push, fetch and check the same archive.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-Module $ModulePath -Force
    $script:cluster = Start-TestCluster
    $script:server = @{ HostName = $cluster.Host; Port = $cluster.Port; Username = 'postgres' }
    $script:work = New-TestDirectory
    $script:repo = Join-Path $work 'repo'

    function Switch-Wal([int]$Count = 1) {
        $null = $cluster.Psql('CREATE TABLE IF NOT EXISTS wal_gen(x int)')
        foreach ($i in 1..$Count) {
            $cluster.Psql('INSERT INTO wal_gen SELECT generate_series(1, 1000); SELECT pg_walfile_name(pg_current_wal_lsn())')
            $null = $cluster.Psql('SELECT pg_switch_wal()')
        }
    }
    function Wait-Archived([string]$Name) { Wait-WalArchived -Cluster $cluster -Name $Name }
}

AfterAll {
    if ($script:cluster) { $script:cluster.Dispose() }
    Remove-Item -Recurse -Force $script:work -ErrorAction SilentlyContinue
}

Describe 'Enable-PgWalArchiving' {
    It 'changes nothing with -WhatIf' {
        $result = Enable-PgWalArchiving -Repository $repo @server -WhatIf
        $result | Should -BeNullOrEmpty
        $cluster.Psql('SHOW archive_mode') | Should -Be 'off'
        $cluster.Psql('SHOW archive_command') | Should -BeIn @('', '(disabled)')
        Test-Path $repo | Should -BeFalse
    }

    It 'sets archive_command to the module''s pgbt-wal, says a restart is needed, and PostgreSQL then archives through it' {
        $result = Enable-PgWalArchiving -Repository $repo -ArchiveTimeout 30 @server -WarningAction SilentlyContinue
        $result | Should -BeOfType ([PgBackupTools.PgWalArchivingResult])
        $result.Applied | Should -BeTrue
        $result.RestartRequired | Should -BeTrue
        $entryPoint = Join-Path (Split-Path $ModulePath) 'bin/pgbt-wal'
        $result.ArchiveCommand | Should -Be "'$entryPoint' push %p --repo '$repo'"
        $cluster.Psql('SHOW archive_timeout') | Should -Be '30s'

        [PgBackupTools.TestKit.PgTestCluster]::GiveToServerUser($work)
        $cluster.Stop(); $cluster.StartServer()
        # (archive_command reads '(disabled)' until archive_mode is on.)
        $cluster.Psql('SHOW archive_command') | Should -Be $result.ArchiveCommand
        $names = @(Switch-Wal 3)
        Wait-Archived $names[-1]
        $report = Test-PgWalArchive -Repository $repo @server
        $report.Passed | Should -BeTrue -Because ($report.Problems -join ' ')
        $report.SegmentsFound | Should -BeGreaterOrEqual 3
        $report.FailedCount | Should -Be 0
        $report.SystemIdentifier | Should -Be $cluster.Psql('SELECT system_identifier FROM pg_control_system()')

        # Run again: nothing left to change.
        (Enable-PgWalArchiving -Repository $repo -ArchiveTimeout 30 @server).Applied | Should -BeFalse
    }
}

Describe 'Send-PgWalSegment and Receive-PgWalSegment' {
    BeforeAll {
        $script:names = @(Switch-Wal 1)
        Wait-Archived $names[-1]
        $script:copy = Join-Path $work 'copy'
        New-Item -ItemType Directory $copy | Out-Null
        Copy-Item (Join-Path $cluster.DataDirectory "pg_wal/$($names[0])") $copy
    }

    It 're-pushes an archived segment from the pipeline as AlreadyArchived' {
        $result = Get-ChildItem $copy | Send-PgWalSegment -Repository $repo
        $result | Should -BeOfType ([PgBackupTools.PgWalSegment])
        $result.AlreadyArchived | Should -BeTrue
        $result.Name | Should -Be $names[0]
        $result.Bytes | Should -Be 16MB
    }

    It 'refuses different content under an archived name and keeps the archived copy' {
        $stored = Get-ChildItem (Join-Path $repo 'wal/main/00000001') -Filter "$($names[0]).*"
        $before = (Get-FileHash $stored.FullName).Hash
        $file = Join-Path $copy $names[0]
        $bytes = [IO.File]::ReadAllBytes($file); $bytes[-10] = $bytes[-10] -bxor 0xFF; [IO.File]::WriteAllBytes($file, $bytes)
        Send-PgWalSegment -Path $file -Repository $repo -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err[0].CategoryInfo.Category | Should -Be 'ResourceExists'
        $err[0].Exception.Message | Should -Match 'different content'
        (Get-FileHash $stored.FullName).Hash | Should -Be $before
    }

    It 'refuses the segment PostgreSQL is still writing (neither .ready nor .done), and pushes a finished one from pg_wal' {
        # Written into first: right after a switch the current LSN is a segment boundary, which pg_walfile_name gives as the finished segment.
        $current = $cluster.Psql('INSERT INTO wal_gen VALUES (1); SELECT pg_walfile_name(pg_current_wal_lsn())')
        Test-Path (Join-Path $cluster.DataDirectory "pg_wal/archive_status/$current.ready") | Should -BeFalse
        $live = Join-Path $cluster.DataDirectory "pg_wal/$current"
        Send-PgWalSegment -Path $live -Repository $repo -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err[0].CategoryInfo.Category | Should -Be 'InvalidArgument'
        $err[0].Exception.Message | Should -Match "is not finished: PostgreSQL has marked it neither \.ready nor \.done"
        Get-ChildItem (Join-Path $repo 'wal/main/00000001') -Filter "$current.*" | Should -BeNullOrEmpty
        # A pg_wal of our own whose archive_status marks the segment .done: pushed (here: already archived).
        $pgWal = Join-Path $work 'pg_wal'
        New-Item -ItemType Directory (Join-Path $pgWal 'archive_status') -Force | Out-Null
        $null = Receive-PgWalSegment -Name $names[0] -Destination $pgWal -Repository $repo -ErrorAction Stop
        New-Item -ItemType File (Join-Path $pgWal "archive_status/$($names[0]).done") | Out-Null
        (Send-PgWalSegment -Path (Join-Path $pgWal $names[0]) -Repository $repo -ErrorAction Stop).AlreadyArchived | Should -BeTrue
    }

    It 'fetches verified bytes, and reports a name that is not archived as not found' {
        $dest = Join-Path $work 'fetched'
        New-Item -ItemType Directory $dest | Out-Null
        $result = $names[0], '000000010000000000000FFF' | Receive-PgWalSegment -Destination $dest -Repository $repo -ErrorVariable err -ErrorAction SilentlyContinue
        @($result).Count | Should -Be 1
        (Get-FileHash (Join-Path $dest $names[0])).Hash | Should -Be (Get-FileHash (Join-Path $cluster.DataDirectory "pg_wal/$($names[0])")).Hash
        $err[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        Test-Path (Join-Path $dest '000000010000000000000FFF') | Should -BeFalse
    }

    It 'pgbt-wal says what failed in words for the server log, not a .NET resource key' {
        $entryPoint = Join-Path (Split-Path $ModulePath) 'bin/pgbt-wal'
        $missingDir = Join-Path $work 'no-such-dir/RECOVERYXLOG'
        $stderr = & $entryPoint get $names[0] $missingDir --repo $repo 2>&1 | Out-String
        $LASTEXITCODE | Should -Be 2
        $stderr | Should -Match 'Could not find a part of the path'
        $stderr | Should -Not -Match 'IO_PathNotFound'
    }

    It 'Test-PgWalArchive names a segment deleted from the middle' {
        $more = @(Switch-Wal 2)
        Wait-Archived $more[-1]
        $middle = $more[0]
        Remove-Item (Join-Path $repo "wal/main/00000001/$middle.zst")
        $report = Test-PgWalArchive -Repository $repo
        $report.Passed | Should -BeFalse
        $report.MissingRanges.First | Should -Be $middle
        ($report.Problems -join ' ') | Should -Match $middle
    }
}

Describe 'An encrypted repository''s WAL archive' {
    BeforeAll {
        $script:pass = ConvertTo-SecureString -AsPlainText 'pester-wal-secret-5b2e' -Force
        $script:encRepo = Join-Path $work 'encrypted'
        # Invoke-PgBackup with a passphrase creates the repository encrypted.
        $null = Invoke-PgBackup -Repository $encRepo -Database postgres -Passphrase $pass @server -ErrorAction Stop
        $script:encNames = @(Switch-Wal 1)
        $script:encCopy = Join-Path $work 'enc-copy'
        New-Item -ItemType Directory $encCopy | Out-Null
        Copy-Item (Join-Path $cluster.DataDirectory "pg_wal/$($encNames[0])") $encCopy
    }

    It 'pushes and fetches with -Passphrase, stores it encrypted, and refuses a wrong one' {
        $file = Join-Path $encCopy $encNames[0]
        $pushed = Send-PgWalSegment -Path $file -Repository $encRepo -Passphrase $pass -ErrorAction Stop
        $pushed.Encrypted | Should -BeTrue
        $pushed.Sha256 | Should -BeNullOrEmpty
        (Send-PgWalSegment -Path $file -Repository $encRepo -Passphrase $pass -ErrorAction Stop).AlreadyArchived | Should -BeTrue
        $stored = [IO.File]::ReadAllBytes((Join-Path $encRepo $pushed.Key))
        [Text.Encoding]::ASCII.GetString($stored, 56, 8) | Should -Be 'PGBT-ENC'

        $dest = Join-Path $work 'enc-fetched'
        New-Item -ItemType Directory $dest | Out-Null
        $fetched = Receive-PgWalSegment -Name $encNames[0] -Destination $dest -Repository $encRepo -Passphrase $pass -ErrorAction Stop
        $fetched.Encrypted | Should -BeTrue
        (Get-FileHash (Join-Path $dest $encNames[0])).Hash | Should -Be (Get-FileHash $file).Hash

        $wrong = ConvertTo-SecureString -AsPlainText 'not-it-0000' -Force
        $other = Join-Path $work 'enc-wrong'
        New-Item -ItemType Directory $other | Out-Null
        Receive-PgWalSegment -Name $encNames[0] -Destination $other -Repository $encRepo -Passphrase $wrong -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err[0].Exception.Message | Should -Match 'does not match'
        @(Get-ChildItem $other).Count | Should -Be 0
        (Test-PgWalArchive -Repository $encRepo).SegmentsFound | Should -Be 1
    }

    It 'Enable-PgWalArchiving refuses -Passphrase and a missing key file for an encrypted repository' {
        { Enable-PgWalArchiving -Repository $encRepo @server -Passphrase $pass -WhatIf -ErrorAction Stop } | Should -Throw '*-PassphraseFile*'
        { Enable-PgWalArchiving -Repository $encRepo @server -WhatIf -ErrorAction Stop } | Should -Throw '*encrypted*-PassphraseFile*'
    }
}

# PostgreSQL runs archive_command as its own OS user (the owner of its data directory). CI runs as root, so a
# repository this session creates belongs to root unless Enable-PgWalArchiving hands it over.
Describe 'Enable-PgWalArchiving and the server''s OS user' {
    BeforeAll {
        $script:ownCluster = Start-TestCluster
        $script:ownServer = @{ HostName = $ownCluster.Host; Port = $ownCluster.Port; Username = 'postgres' }
        $script:ownWork = New-TestDirectory
        $script:serverUser = (stat -c %U $ownCluster.DataDirectory)
        $script:isRoot = (id -u) -eq '0'
    }

    AfterAll {
        if ($script:ownCluster) { $script:ownCluster.Dispose() }
        Remove-Item -Recurse -Force $script:ownWork -ErrorAction SilentlyContinue
    }

    It 'refuses an existing repository the server''s OS user cannot write, naming it and the chown, before changing the server' -Skip:((id -u) -ne '0') {
        $existing = Join-Path $ownWork 'existing'
        # A repository this root session made for logical backups first, as a user would.
        $null = Invoke-PgBackup -Repository $existing -Database postgres @ownServer
        chmod 0755 $existing
        (stat -c %U $existing) | Should -Be 'root'
        $before = $ownCluster.Psql('SHOW archive_command')

        { Enable-PgWalArchiving -Repository $existing @ownServer -ErrorAction Stop } |
            Should -Throw "*'$serverUser'*cannot write $existing*chown -R ${serverUser}: $existing*Nothing was changed*"
        $ownCluster.Psql('SHOW archive_command') | Should -Be $before
        $ownCluster.Psql("SELECT count(*) FROM pg_file_settings WHERE sourcefile LIKE '%postgresql.auto.conf'") | Should -Be '0'

        # A plain directory that is there already (not yet a repository) is checked the same way, and stays as it was.
        $plain = Join-Path $ownWork 'plain'
        $null = New-Item -ItemType Directory $plain
        { Enable-PgWalArchiving -Repository $plain @ownServer -ErrorAction Stop } | Should -Throw "*cannot write $plain*chown -R ${serverUser}: $plain*"
        @(Get-ChildItem -Force $plain).Count | Should -Be 0
        $ownCluster.Psql('SHOW archive_command') | Should -Be $before

        # A new repository under a parent the server's user may not enter (root's umask 077): a chown of the repository
        # would not help, so the parent is what the message names, and nothing is created.
        $closed = Join-Path $ownWork 'closed'
        $null = New-Item -ItemType Directory $closed
        chmod 0700 $closed
        { Enable-PgWalArchiving -Repository "$closed/new/repo" @ownServer -ErrorAction Stop } |
            Should -Throw "*cannot reach $closed/new/repo: it may not enter $closed*chmod o+x $closed*"
        Test-Path "$closed/new" | Should -BeFalse
        $ownCluster.Psql('SHOW archive_command') | Should -Be $before
    }

    It 'as root, gives a new repository to the server''s OS user, and PostgreSQL archives into it once restarted' -Skip:((id -u) -ne '0') {
        $new = Join-Path $ownWork 'new/repo'
        $output = Enable-PgWalArchiving -Repository $new -ArchiveTimeout 30 @ownServer -Verbose -WarningAction SilentlyContinue 4>&1
        $result = $output | Where-Object { $_ -is [PgBackupTools.PgWalArchivingResult] }
        $result.Applied | Should -BeTrue
        ($output | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }).Message |
            Should -Contain "Gave the new repository $new to '$serverUser' ($(stat -c '%u:%g' $ownCluster.DataDirectory)), the OS user that owns $($ownCluster.DataDirectory) and runs archive_command."
        (stat -c %U $new) | Should -Be $serverUser
        $created = @(Get-ChildItem -Recurse -Force $new)
        $created.Count | Should -BeGreaterThan 0
        $created | ForEach-Object { (stat -c %U $_.FullName) | Should -Be $serverUser -Because $_.FullName }

        # No GiveToServerUser here: the server's own user must be able to archive as the cmdlet left it.
        $ownCluster.Stop(); $ownCluster.StartServer()
        $segment = Switch-WalAndWait -Cluster $ownCluster
        $archived = @(Get-ChildItem -Recurse -File (Join-Path $new 'wal/main') | Where-Object Name -like "$segment*")
        $archived.Count | Should -Be 1
        (stat -c %U $archived[0].FullName) | Should -Be $serverUser
        $ownCluster.Psql('SELECT failed_count FROM pg_stat_archiver') | Should -Be '0'
    }
}
