BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-Module $ModulePath -Force
    $script:cluster = Start-TestCluster
    $script:server = @{ HostName = $cluster.Host; Port = $cluster.Port; Username = 'postgres' }
    $script:db = New-AuditDatabase -Cluster $cluster -Rows 5000
}

AfterAll {
    if ($script:cluster) { $script:cluster.Dispose() }
}

Describe 'The module' {
    It 'exports exactly the cmdlets its manifest lists, each with an OutputType' {
        $manifest = Import-PowerShellDataFile $ModulePath
        $exported = (Get-Command -Module PgBackupTools).Name | Sort-Object
        $exported | Should -Be ($manifest.CmdletsToExport | Sort-Object)
        foreach ($name in $exported) {
            (Get-Command $name).OutputType | Should -Not -BeNullOrEmpty -Because "$name must declare what it writes"
        }
    }

    It 'has full help for every cmdlet: synopsis, every parameter described, two examples, one a pipeline' {
        foreach ($cmd in Get-Command -Module PgBackupTools) {
            $help = Get-Help $cmd.Name -Full
            $help.Synopsis | Should -Not -Match "^\s*$($cmd.Name)" -Because "$($cmd.Name) needs a real synopsis, not the generated syntax"
            @($help.Examples.Example).Count | Should -BeGreaterOrEqual 2
            (@($help.Examples.Example).Code -match '\|').Count | Should -BeGreaterOrEqual 1
            $common = [System.Management.Automation.PSCmdlet]::CommonParameters + [System.Management.Automation.PSCmdlet]::OptionalCommonParameters
            foreach ($name in $cmd.Parameters.Keys | Where-Object { $common -notcontains $_ }) {
                $p = $help.Parameters.Parameter | Where-Object Name -eq $name
                ($p.Description.Text -join '') | Should -Not -BeNullOrEmpty -Because "-$name of $($cmd.Name) needs help"
            }
        }
        Get-Help about_PgBackupTools | Should -Not -BeNullOrEmpty
    }

    It 'has an about topic that names every cmdlet it exports' {
        $about = Get-Help about_PgBackupTools | Out-String
        foreach ($cmd in Get-Command -Module PgBackupTools) { $about | Should -Match "\b$($cmd.Name)\b" -Because 'README sends newcomers to about_PgBackupTools first' }
    }

    It 'has help examples that are valid PowerShell, so that each can be pasted into pwsh as it stands' {
        foreach ($cmd in Get-Command -Module PgBackupTools) {
            foreach ($example in @((Get-Help $cmd.Name -Full).Examples.Example)) {
                $errors = $null
                $null = [System.Management.Automation.Language.Parser]::ParseInput(($example.Code -join "`n"), [ref]$null, [ref]$errors)
                $errors | Should -BeNullOrEmpty -Because "an example of $($cmd.Name) must parse: $($example.Code)"
            }
        }
    }

    It 'keeps every cmdlet signature as recorded in CommandSignatures.json (regenerate it only for an intended change)' {
        $expected = Get-Content (Join-Path $PSScriptRoot 'CommandSignatures.json') -Raw
        $actual = & (Join-Path $RepoRoot 'tools/Export-CommandSignature.ps1') -ModuleManifest $ModulePath | Out-String
        ($actual.Trim() -replace "`r") | Should -Be ($expected.Trim() -replace "`r")
    }

    It 'has the manifest fields a gallery and Azure Automation need' {
        $manifest = Test-ModuleManifest $ModulePath
        $manifest.Description | Should -Not -BeNullOrEmpty
        $manifest.PowerShellVersion | Should -Be '7.4'
        $manifest.CompatiblePSEditions | Should -Be 'Core'
        $manifest.Tags | Should -Contain 'PostgreSQL'
        $manifest.LicenseUri | Should -Not -BeNullOrEmpty
        $manifest.ReleaseNotes | Should -Not -BeNullOrEmpty
        $manifest.ExportedFormatFiles | Should -Not -BeNullOrEmpty
    }

    It 'has a table and a list view for every type of its own that a cmdlet writes' {
        $types = (Get-Command -Module PgBackupTools).OutputType.Type | Where-Object Namespace -eq 'PgBackupTools' | Select-Object -Unique
        $types | Should -Not -BeNullOrEmpty
        foreach ($type in $types + [PgBackupTools.PgBackupCheck]) {
            $controls = (Get-FormatData -TypeName $type.FullName).FormatViewDefinition.Control | ForEach-Object { $_.GetType().Name }
            $controls | Should -Contain 'TableControl' -Because "$($type.Name) needs a table view"
            $controls | Should -Contain 'ListControl' -Because "$($type.Name) needs a list view"
        }
    }

    It 'uses approved verbs only' {
        $approved = (Get-Verb).Verb
        foreach ($cmd in Get-Command -Module PgBackupTools) { $approved | Should -Contain $cmd.Verb }
    }
}

Describe 'Invoke-PgBackup | Test-PgBackup -Restore' {
    BeforeAll { $script:repo = New-TestDirectory }
    AfterAll { Remove-Item -Recurse -Force $repo -ErrorAction SilentlyContinue }

    It 'backs up, and the piped backup passes a real test restore' {
        $result = Invoke-PgBackup -Repository $repo -Database $db @server | Test-PgBackup -Restore -Query 'SELECT count(*) = 5000 FROM audit_events' @server
        $result.Passed | Should -BeTrue
        $result.Restored | Should -BeTrue
        ($result.Checks | Where-Object Kind -eq 'RowCount').Count | Should -Be 3
        ($result.Checks | Where-Object Kind -eq 'Query').Passed | Should -BeTrue
        $cluster.Psql("SELECT count(*) FROM pg_database WHERE datname LIKE 'pgbt_%'") | Should -Be '0'
    }

    It 'writes a PgBackup with the stored .sql.gz, its checksum and the row counts' {
        $backup = Invoke-PgBackup -Repository $repo -Database $db @server
        $backup | Should -BeOfType ([PgBackupTools.PgBackup])
        $backup.Files[0].Name | Should -Be 'database.sql.gz'
        $backup.TableRowCounts['public.audit_events'] | Should -Be 5000
        $stored = Join-Path $repo "backups/main/$($backup.Id)/database.sql.gz"
        (Get-FileHash $stored -Algorithm SHA256).Hash.ToLower() | Should -Be $backup.Files[0].StoredSha256
        $backup.Repository | Should -Be $repo
    }

    It 'takes database names from the pipeline, one PgBackup each' {
        $other = New-AuditDatabase -Cluster $cluster -Rows 10
        $backups = $db, $other | Invoke-PgBackup -Repository $repo @server
        $backups.Database | Should -Be @($db, $other)
    }

    It 'with -WhatIf stores nothing and does not create a repository that is not there yet' {
        $new = Join-Path (New-TestDirectory) 'not-yet'
        Invoke-PgBackup -Repository $new -Database $db -WhatIf @server | Should -BeNullOrEmpty
        Test-Path $new | Should -BeFalse
        $before = @(Get-PgBackup -Repository $repo).Count
        Invoke-PgBackup -Repository $repo -Database $db -WhatIf @server | Should -BeNullOrEmpty
        @(Get-PgBackup -Repository $repo).Count | Should -Be $before
    }

    It 'says what runs with -Verbose' {
        $verbose = Invoke-PgBackup -Repository $repo -Database $db @server -Verbose 4>&1 | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }
        ($verbose.Message -join "`n") | Should -Match 'pg_dump'
    }
}

Describe 'Get-PgBackup' {
    BeforeAll {
        $script:repo = New-TestDirectory
        $script:first = Invoke-PgBackup -Repository $repo -Database $db @server
        $script:second = Invoke-PgBackup -Repository $repo -Database $db -Format Custom @server
        $script:otherDb = New-AuditDatabase -Cluster $cluster -Rows 10
        $script:third = Invoke-PgBackup -Repository $repo -Database $otherDb @server
    }
    AfterAll { Remove-Item -Recurse -Force $repo -ErrorAction SilentlyContinue }

    It 'lists every backup oldest first from the manifests' {
        (Get-PgBackup -Repository $repo).Id | Should -Be @($first.Id, $second.Id, $third.Id)
    }

    It 'filters by database with wildcards, by id, and -Latest keeps the newest per database' {
        (Get-PgBackup -Repository $repo -Database 'audit_*').Count | Should -Be 3
        (Get-PgBackup -Repository $repo -Database $otherDb).Id | Should -Be $third.Id
        (Get-PgBackup -Repository $repo -Id $first.Id).Id | Should -Be $first.Id
        (Get-PgBackup -Repository $repo -Latest).Id | Should -Be @($second.Id, $third.Id)
    }

    It 'writes ObjectNotFound for an id that names no backup, and still lists the ids that exist' {
        $absent = '20000101T000000Z-000000'
        $found = Get-PgBackup -Repository $repo -Id $first.Id, $absent -ErrorVariable err -ErrorAction SilentlyContinue
        $found.Id | Should -Be $first.Id
        $err.Count | Should -Be 1
        $err[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $err[0].TargetObject | Should -Be $absent
        $err[0].Exception.Message | Should -Match "No backup with id '$absent'.*Get-PgBackup -Repository"
        { Get-PgBackup -Repository $repo -Id $absent -ErrorAction Stop | Restore-PgDatabase -TargetDatabase never_made -Force } | Should -Throw -ExpectedMessage "*No backup with id*"
    }

    It 'refuses a backup id with ../ and a repository that does not exist' {
        { Get-PgBackup -Repository $repo -Id '../../etc' -ErrorAction Stop } | Should -Throw -ExpectedMessage "*not a valid backup id*"
        $err = { Get-PgBackup -Repository (Join-Path $repo 'nope') -ErrorAction Stop } | Should -Throw -PassThru
        $err.Exception.Message | Should -Match 'no PgBackupTools repository'
        $err.CategoryInfo.Category | Should -Be 'ObjectNotFound'
    }

    It 'tab-completes backup ids, databases and stanzas from the repository, and recent repositories' {
        $complete = { param($line) (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.ListItemText }
        & $complete "Get-PgBackup -Repository '$repo' -Id " | Should -Be @($third.Id, $second.Id, $first.Id)
        & $complete "Get-PgBackup -Repository '$repo' -Database " | Sort-Object | Should -Be (@($db, $otherDb) | Sort-Object)
        & $complete "Get-PgBackup -Repository '$repo' -Stanza " | Should -Be 'main'
        & $complete "Get-PgBackup -Repository $($repo.Substring(0, $repo.Length - 3))" | Should -Contain $repo
    }

    It 'a location with a scheme other than s3:// or az:// is refused by name, not as a missing PowerShell drive' {
        $err = { Get-PgBackup -Repository 'https://example.com/backups' -ErrorAction Stop } | Should -Throw -PassThru
        $err.CategoryInfo.Category | Should -Be 'InvalidArgument'
        $err.Exception.Message | Should -Match "'https://example.com/backups' is not a supported repository location: use a directory path, s3://"
    }

    It 'a missing repository says to check the location and what creates one' {
        $err = { Get-PgBackup -Repository (Join-Path $repo 'typo') -ErrorAction Stop } | Should -Throw -PassThru
        $err.Exception.Message | Should -Match 'check the location.*Invoke-PgBackup -Repository.*Enable-PgWalArchiving -Repository'
    }

    It 'Format-List of a logical backup shows no tablespace line made of empty fields' {
        $text = $first | Format-List | Out-String -Width 300
        $text | Should -Not -Match '\(oid \)'
        $text | Should -Match 'Tablespaces\s*:\s*\r?\n'
        # Plain is the enum's 0, which PowerShell's if() takes for false.
        ($first, $second | Format-Table | Out-String -Width 300) | Should -Match ("(?m)^{0} .* Plain/Gzip\s*$[\s\S]*^{1} .* Custom/Gzip\s*$" -f $first.Id, $second.Id)
    }

    It 'Get-PgBackupStatus with a server that does not archive shows only the databases of a stanza of dumps, no cluster row that can never be met' {
        $cluster.Psql('SHOW archive_mode') | Should -Be 'off'
        $statuses = Get-PgBackupStatus -Repository $repo @server
        $statuses.Database | Sort-Object | Should -Be (@($db, $otherDb) | Sort-Object)
        ($statuses | Where-Object Database -eq $db).Objectives.Objective | Should -Contain 'RPO'
    }

    It 'Test-PgBackupConfiguration on a server with archive_mode off does not call archive_command empty' {
        $checks = Test-PgBackupConfiguration -Repository $repo @server -Timeout 5s -ErrorAction SilentlyContinue
        ($checks | Where-Object Name -eq 'archive_mode').Status | Should -Be 'Failed'
        $command = $checks | Where-Object Name -eq 'archive_command'
        $command.Status | Should -Be 'Failed'
        $command.Detail | Should -Match "archive_mode is off, so PostgreSQL shows archive_command as '\(disabled\)'"
        $command.Fix | Should -Match 'Enable-PgWalArchiving'
    }

    It 'binds Repository from the pipeline by property name' {
        ([pscustomobject]@{ Repository = $repo } | Get-PgBackup).Count | Should -Be 3
    }
}

Describe 'Restore-PgDatabase' {
    BeforeAll {
        $script:repo = New-TestDirectory
        $script:backup = Invoke-PgBackup -Repository $repo -Database $db -Format Custom @server
    }
    AfterAll { Remove-Item -Recurse -Force $repo -ErrorAction SilentlyContinue }

    It 'restores a backup from the pipeline into a new database' {
        $result = Get-PgBackup -Repository $repo -Latest | Restore-PgDatabase -TargetDatabase restored_one -Jobs 2 -Force @server
        $result | Should -BeOfType ([PgBackupTools.PgRestoreResult])
        $cluster.Psql('SELECT count(*) FROM audit_events', 'restored_one') | Should -Be '5000'
    }

    It 'with -WhatIf restores nothing' {
        $backup | Restore-PgDatabase -TargetDatabase whatif_target -WhatIf @server
        $cluster.Psql("SELECT count(*) FROM pg_database WHERE datname = 'whatif_target'") | Should -Be '0'
    }

    It 'refuses to replace an existing database without -Force and leaves it untouched' {
        $existing = New-AuditDatabase -Cluster $cluster -Rows 7
        $err = { $backup | Restore-PgDatabase -TargetDatabase $existing -Confirm:$false -ErrorAction Stop @server } | Should -Throw -PassThru
        $err.Exception.Message | Should -Match 'already exists.*-Force'
        $err.CategoryInfo.Category | Should -Be 'ResourceExists'
        $cluster.Psql('SELECT count(*) FROM audit_events', $existing) | Should -Be '7'
        $backup | Restore-PgDatabase -TargetDatabase $existing -Force @server | Select-Object -ExpandProperty Replaced | Should -BeTrue
        $cluster.Psql('SELECT count(*) FROM audit_events', $existing) | Should -Be '5000'
    }
}

Describe 'Damage and bad input' {
    BeforeAll { $script:repo = New-TestDirectory }
    AfterAll { Remove-Item -Recurse -Force $repo -ErrorAction SilentlyContinue }

    It 'a flipped byte fails Test-PgBackup and Restore-PgDatabase, naming the file, and restores nothing' {
        $backup = Invoke-PgBackup -Repository $repo -Database $db @server
        $file = Join-Path $repo "backups/main/$($backup.Id)/database.sql.gz"
        $bytes = [IO.File]::ReadAllBytes($file)
        $bytes[[int]($bytes.Length / 3)] = $bytes[[int]($bytes.Length / 3)] -bxor 0x10
        [IO.File]::WriteAllBytes($file, $bytes)

        $result = $backup | Test-PgBackup -Restore -ErrorVariable testErrors -ErrorAction SilentlyContinue @server
        $result.Passed | Should -BeFalse
        $testErrors[0].Exception.Message | Should -Match 'database\.sql\.gz'

        $err = { $backup | Restore-PgDatabase -TargetDatabase damaged_target -Force -ErrorAction Stop @server } | Should -Throw -PassThru
        $err.Exception.Message | Should -Match 'Checksum mismatch.*database\.sql\.gz'
        $err.CategoryInfo.Category | Should -Be 'InvalidData'
        $cluster.Psql("SELECT count(*) FROM pg_database WHERE datname = 'damaged_target' OR datname LIKE 'pgbt_%'") | Should -Be '0'
    }

    It 'an unknown database is an ObjectNotFound error that names it, and other databases still run' {
        $out = Invoke-PgBackup -Repository $repo -Database 'no_such_db', $db -ErrorVariable errs -ErrorAction SilentlyContinue @server
        $out.Database | Should -Be $db
        $errs[0].Exception.Message | Should -Match "'no_such_db' does not exist"
        $errs[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
    }

    It 'an unreachable server is a ConnectionError' {
        $port = [PgBackupTools.TestKit.PgTestCluster]::FindFreePort()
        $err = { Invoke-PgBackup -Repository $repo -Database x -HostName 127.0.0.1 -Port $port -Username postgres -ErrorAction Stop } | Should -Throw -PassThru
        $err.CategoryInfo.Category | Should -Be 'ConnectionError'
        $err.Exception.Message | Should -Match "127.0.0.1:$port"
    }

    It 'a missing pg_dump is a NotInstalled error that says what to install' {
        $empty = New-TestDirectory
        $env:PGBACKUPTOOLS_PGBIN = $empty
        try {
            $err = { Invoke-PgBackup -Repository $repo -Database $db -ErrorAction Stop @server } | Should -Throw -PassThru
            $err.CategoryInfo.Category | Should -Be 'NotInstalled'
            $err.Exception.Message | Should -Match 'pg_dump was not found.*postgresql-client'
        }
        finally { Remove-Item Env:PGBACKUPTOOLS_PGBIN; Remove-Item $empty }
    }

    It 'a repository path that is a file is refused before anything runs' {
        $file = Join-Path $repo 'a-file'
        Set-Content $file 'x'
        $err = { Invoke-PgBackup -Repository $file -Database $db -ErrorAction Stop @server } | Should -Throw -PassThru
        $err.CategoryInfo.Category | Should -Be 'InvalidArgument'
        $err.Exception.Message | Should -Match 'is a file'
    }

    It 'nothing above left a listed backup except the good ones' {
        (Get-PgBackup -Repository $repo).Database | Sort-Object -Unique | Should -Be $db
    }
}

Describe 'Credentials' {
    It 'a missing or wrong password is a PermissionDenied error that names the role and where a password comes from' {
        $cluster.Psql("DO `$`$ BEGIN CREATE ROLE pester_login LOGIN PASSWORD 'right-one'; EXCEPTION WHEN duplicate_object THEN NULL; END `$`$;") | Out-Null
        $saved = $env:PGPASSWORD, $env:PGPASSFILE
        Remove-Item Env:PGPASSWORD -ErrorAction SilentlyContinue
        $repo = New-TestDirectory
        # An empty passfile, so that no ~/.pgpass of the machine running the tests can supply the password.
        $env:PGPASSFILE = Join-Path $repo 'empty.pgpass'
        New-Item -ItemType File $env:PGPASSFILE | Out-Null
        if (-not $IsWindows) { chmod 600 $env:PGPASSFILE }
        try {
            $none = { Invoke-PgBackup -Repository $repo -Database $db -HostName $cluster.Host -Port $cluster.Port -Username pester_login -ErrorAction Stop } | Should -Throw -PassThru
            $none.CategoryInfo.Category | Should -Be 'PermissionDenied' -Because $none.Exception.Message
            $none.Exception.Message | Should -Match "asks for the password of user 'pester_login', and none was given\. Check the role \(-Username or PGUSER.*-Credential, PGPASSWORD"
            $none.Exception.Message | Should -Not -Match 'Check that the server runs'

            $wrong = [pscredential]::new('pester_login', (ConvertTo-SecureString 'wrong-one' -AsPlainText -Force))
            $bad = { Invoke-PgBackup -Repository $repo -Database $db -HostName $cluster.Host -Port $cluster.Port -Credential $wrong -ErrorAction Stop } | Should -Throw -PassThru
            $bad.CategoryInfo.Category | Should -Be 'PermissionDenied'
            $bad.Exception.Message | Should -Match "refused user 'pester_login': password authentication failed.*-Username or PGUSER"

            $env:PGPASSFILE = Join-Path $repo 'no-such.pgpass'
            $missing = { Invoke-PgBackup -Repository $repo -Database $db -HostName $cluster.Host -Port $cluster.Port -Username pester_login -ErrorAction Stop } | Should -Throw -PassThru
            $missing.CategoryInfo.Category | Should -Be 'InvalidArgument' -Because $missing.Exception.Message
            $missing.Exception.Message | Should -Match "PGPASSFILE names .*no-such\.pgpass, which does not exist\. Create it .* or unset PGPASSFILE"
        }
        finally {
            if ($null -ne $saved[0]) { $env:PGPASSWORD = $saved[0] }
            if ($null -ne $saved[1]) { $env:PGPASSFILE = $saved[1] } else { Remove-Item Env:PGPASSFILE -ErrorAction SilentlyContinue }
            Remove-Item -Recurse -Force $repo -ErrorAction SilentlyContinue
        }
    }

    It 'a role with a password backs up through -Credential and the password never reaches a command line' {
        $password = 'pw-' + [guid]::NewGuid().ToString('N')
        $cluster.Psql("CREATE ROLE pester_user LOGIN PASSWORD '$password'; GRANT pg_read_all_data TO pester_user;") | Out-Null
        $credential = [pscredential]::new('pester_user', (ConvertTo-SecureString $password -AsPlainText -Force))
        $repo = New-TestDirectory
        $big = New-AuditDatabase -Cluster $cluster -Rows 60000
        $job = Start-ThreadJob -ScriptBlock {
            $seen = [System.Collections.Generic.List[string]]::new()
            $deadline = [DateTime]::UtcNow.AddSeconds(60)
            while ([DateTime]::UtcNow -lt $deadline -and -not (Test-Path "$using:repo/stop")) {
                foreach ($proc in Get-ChildItem /proc -Directory -ErrorAction SilentlyContinue | Where-Object Name -match '^\d+$') {
                    try { $cmd = [IO.File]::ReadAllText("$($proc.FullName)/cmdline").Replace([char]0, ' ') } catch { continue }
                    if ($cmd -match 'pg_dump') { $seen.Add($cmd) }
                }
            }
            $seen
        }
        try {
            $backup = Invoke-PgBackup -Repository $repo -Database $big -HostName $cluster.Host -Port $cluster.Port -Credential $credential -Verbose 4>&1
        }
        finally { Set-Content "$repo/stop" '' }
        # Not -AutoRemoveJob: with a thread job it can race its own removal ("Job repository does not contain an item").
        $cmdlines = Receive-Job $job -Wait
        Remove-Job $job -Force
        $cmdlines | Should -Not -BeNullOrEmpty -Because 'the watcher must have seen pg_dump run'
        ($cmdlines -join "`n") | Should -Not -Match $password
        ($backup | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }).Message -join "`n" | Should -Not -Match $password
        ($backup | Where-Object { $_ -is [PgBackupTools.PgBackup] }).TableRowCounts['public.audit_events'] | Should -Be 60000
        Get-ChildItem $repo -Recurse -File | ForEach-Object { Get-Content $_.FullName -Raw -AsByteStream } |
            ForEach-Object { [Text.Encoding]::UTF8.GetString($_) } | Should -Not -Match $password
        Remove-Item -Recurse -Force $repo
    }
}

Describe 'A backup killed with SIGKILL halfway' {
    It 'leaves nothing Get-PgBackup lists, and the next backup succeeds' {
        $repo = New-TestDirectory
        $big = New-AuditDatabase -Cluster $cluster -Rows 400000
        $script = "Import-Module '$ModulePath'; Invoke-PgBackup -Repository '$repo' -Database '$big' -HostName $($cluster.Host) -Port $($cluster.Port) -Username postgres"
        $psi = [Diagnostics.ProcessStartInfo]::new((Join-Path $PSHOME 'pwsh'))
        foreach ($a in '-NoProfile', '-NonInteractive', '-Command', $script) { $psi.ArgumentList.Add($a) }
        $proc = [Diagnostics.Process]::Start($psi)
        $deadline = [DateTime]::UtcNow.AddSeconds(60)
        while ([DateTime]::UtcNow -lt $deadline -and -not (Get-ChildItem $repo -Recurse -File -Force -Filter '*.pgbt-tmp-*' | Where-Object Length -gt 1MB)) {
            Start-Sleep -Milliseconds 50
        }
        Get-ChildItem $repo -Recurse -File -Force -Filter '*.pgbt-tmp-*' | Should -Not -BeNullOrEmpty -Because 'the backup must be halfway when killed'
        & kill -KILL $proc.Id
        $proc.WaitForExit()
        Get-PgBackup -Repository $repo | Should -BeNullOrEmpty
        $next = Invoke-PgBackup -Repository $repo -Database $big @server
        (Get-PgBackup -Repository $repo).Id | Should -Be $next.Id
        ($next | Test-PgBackup).Passed | Should -BeTrue
        Remove-Item -Recurse -Force $repo
    }
}

Describe 'A logical restore killed with SIGKILL halfway' {
    It 'leaves the database it was replacing as it was, and the next restore replaces it' {
        $repo = New-TestDirectory
        $big = New-AuditDatabase -Cluster $cluster -Rows 400000
        $backup = Invoke-PgBackup -Repository $repo -Database $big @server
        $target = New-AuditDatabase -Cluster $cluster -Rows 10
        $script = "Import-Module '$ModulePath'; Get-PgBackup -Repository '$repo' -Id '$($backup.Id)' | Restore-PgDatabase -TargetDatabase '$target' -Force -HostName $($cluster.Host) -Port $($cluster.Port) -Username postgres"
        $psi = [Diagnostics.ProcessStartInfo]::new((Join-Path $PSHOME 'pwsh'))
        foreach ($a in '-NoProfile', '-NonInteractive', '-Command', $script) { $psi.ArgumentList.Add($a) }
        $proc = [Diagnostics.Process]::Start($psi)
        # Halfway: the staging database has grown well past an empty one (template0 is about 8 MB).
        $staged = "SELECT coalesce(max(pg_database_size(datname)), 0) FROM pg_database WHERE datname LIKE 'pgbt_restore_%'"
        $deadline = [DateTime]::UtcNow.AddSeconds(120)
        while ([DateTime]::UtcNow -lt $deadline -and -not $proc.HasExited -and [long]$cluster.Psql($staged) -lt 20MB) { Start-Sleep -Milliseconds 50 }
        [long]$cluster.Psql($staged) | Should -BeGreaterThan 20MB -Because 'the restore must be halfway when killed'
        $proc.Kill($true) # SIGKILL, pg_restore with it
        $proc.WaitForExit()

        $cluster.Psql('SELECT count(*) FROM audit_events', $target) | Should -Be '10'
        $result = $backup | Restore-PgDatabase -TargetDatabase $target -Force @server
        $result.Replaced | Should -BeTrue
        $cluster.Psql('SELECT count(*) FROM audit_events', $target) | Should -Be '400000'
        Remove-Item -Recurse -Force $repo
    }
}

Describe 'Remove-PgBackup and retention' {
    BeforeEach {
        $script:repo = New-TestDirectory
        $script:backups = 1..4 | ForEach-Object { Invoke-PgBackup -Repository $repo -Database $db @server }
    }
    AfterEach { Remove-Item -Recurse -Force $repo -ErrorAction SilentlyContinue }

    It 'refuses to remove the newest backup unless -Force names it, and removes the others from the pipeline' {
        $removed = Get-PgBackup -Repository $repo | Remove-PgBackup -Confirm:$false -PassThru -ErrorVariable errs -ErrorAction SilentlyContinue
        $removed.Id | Should -Be $backups[0..2].Id
        $errs.Count | Should -Be 1
        $errs[0].FullyQualifiedErrorId | Should -Match 'NewestBackupKept'
        (Get-PgBackup -Repository $repo).Id | Should -Be $backups[3].Id
        Test-Path (Join-Path $repo "backups/main/$($backups[0].Id)") | Should -BeFalse
        $backups[3] | Remove-PgBackup -Force
        Get-PgBackup -Repository $repo | Should -BeNullOrEmpty
    }

    It '-WhatIf removes nothing and names exactly the set a real run removes' {
        # ShouldProcess writes "What if:" to the host, so read it from a child pwsh's output as a user would see it.
        $whatIf = & (Join-Path $PSHOME 'pwsh') -NoProfile -NonInteractive -Command "Import-Module '$ModulePath'; Remove-PgBackup -Repository '$repo' -KeepLast 2 -WhatIf" | Out-String
        $whatIf | Should -Match 'What if: .*Remove backup \(beyond the newest 2\)'
        (Get-PgBackup -Repository $repo).Count | Should -Be 4
        $removed = Remove-PgBackup -Repository $repo -KeepLast 2 -Force -PassThru
        $removed.Id | Should -Be $backups[0..1].Id
        foreach ($id in $backups.Id) {
            if ($removed.Id -contains $id) { $whatIf | Should -Match $id } else { $whatIf | Should -Not -Match $id }
        }
        (Get-PgBackup -Repository $repo).Id | Should -Be $backups[2..3].Id
    }

    It 'Invoke-PgBackup -KeepLast runs the policy after a successful backup, for the databases it backed up' {
        $other = New-AuditDatabase -Cluster $cluster -Rows 10
        $otherBackups = 1..2 | ForEach-Object { Invoke-PgBackup -Repository $repo -Database $other @server }
        $new = Invoke-PgBackup -Repository $repo -Database $db -KeepLast 2 @server
        (Get-PgBackup -Repository $repo -Database $db).Id | Should -Be @($backups[3].Id, $new.Id)
        (Get-PgBackup -Repository $repo -Database $other).Id | Should -Be $otherBackups.Id
    }

    It 'a policy run cleans up the remains of a removal that was interrupted after the manifest went' {
        Remove-Item (Join-Path $repo "backups/main/$($backups[0].Id)/manifest.json")
        (Get-PgBackup -Repository $repo).Count | Should -Be 3
        Remove-PgBackup -Repository $repo -KeepLast 10 -GracePeriod 0:0:0 -Force
        Test-Path (Join-Path $repo "backups/main/$($backups[0].Id)") | Should -BeFalse
        (Get-PgBackup -Repository $repo).Count | Should -Be 3
    }
}
