

codeT1000I

event
user.login

methodlocal

success 

time2019-04-22T00:49:03Z
-
uid&$173d6b6e-d613-44be-8ff6-f9f893791ef2

useradmin@example.com